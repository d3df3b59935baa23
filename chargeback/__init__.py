"""OpenChargeback: simple, transparent billing for research computing."""

from .celery import app as celery_app

__all__ = ["celery_app"]
