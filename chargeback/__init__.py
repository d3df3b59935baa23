"""OpenChargeback: simple, transparent billing for research computing.

The Celery application is `chargeback.celery.app` (`celery -A chargeback` finds it). It is not
imported here: the tasks module imports it, so it is configured before any task is sent, and
commands that send none start without it.
"""
