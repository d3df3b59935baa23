"""The Celery application. Tasks run in-process (eager) when CELERY_BROKER_URL is unset."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeback.settings")

app = Celery("openchargeback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
