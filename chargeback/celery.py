"""The Celery application. Tasks run in-process (eager) when CELERY_BROKER_URL is unset."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargeback.settings")

app = Celery("openchargeback")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _log_like_the_web_app(**kwargs: object) -> None:
    """Workers and beat log through settings.LOGGING (LOG_FORMAT, LOG_LEVEL), with task ids."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
