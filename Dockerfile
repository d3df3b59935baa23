# OpenChargeback production image: the web app, Celery worker and beat all run from it.
#   docker compose build        (see docker-compose.yml and docs/operations.md)
FROM python:3.11-slim

# PYTHONPATH: every process (gunicorn, celery, openchargeback) loads the code from /app, so
# the project-level folders next to it (templates/, fixtures/) are found the same way.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=chargeback.settings \
    OPENCHARGEBACK_DATA_DIR=/data \
    PYTHONPATH=/app

WORKDIR /app

# The runtime dependencies listed in pyproject.toml (no dev extras), in their own layer so a
# code change does not reinstall them; then OpenChargeback itself and its `openchargeback` command.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# The project (see .dockerignore for what is left out: tests, local data, secrets, ...).
COPY . .
RUN pip install --no-deps . \
    && rm -rf build *.egg-info

# A non-root user; /data (uploads, stored imports, static files, mail) belongs to it, so a
# named volume mounted there starts out writable.
RUN groupadd --system --gid 10001 openchargeback \
    && useradd --system --uid 10001 --gid openchargeback --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin openchargeback \
    && mkdir -p /data \
    && chown openchargeback:openchargeback /data
USER openchargeback

VOLUME ["/data"]
EXPOSE 8000

CMD ["gunicorn", "chargeback.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
