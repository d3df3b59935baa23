# OpenChargeback production image: the web app, Celery worker and beat all run from it.
#   docker compose build        (see docker-compose.yml and docs/operations/install.md)
FROM python:3.11-slim

# PYTHONPATH: every process (gunicorn, celery, openchargeback) loads the code from /app, so
# the project-level folders next to it (templates/, fixtures/) are found the same way.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=chargeback.settings \
    OPENCHARGEBACK_DATA_DIR=/data \
    OPENCHARGEBACK_STATIC_ROOT=/app/static \
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
# Static files are collected into the image (not the data volume), so each image serves its own
# version's files. The key is a throwaway: collectstatic signs nothing.
RUN SECRET_KEY=collectstatic-at-build-time-only-not-a-real-key-0123456789 \
    OPENCHARGEBACK_DATA_DIR=/tmp/build-data \
    openchargeback collectstatic --no-input -v 0 \
    && rm -rf /tmp/build-data

# A non-root user; /data (the SQLite database if used, stored imports, mail) belongs to it, so a
# named volume mounted there starts out writable.
RUN groupadd --system --gid 10001 openchargeback \
    && useradd --system --uid 10001 --gid openchargeback --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin openchargeback \
    && mkdir -p /data \
    && chown openchargeback:openchargeback /data
USER openchargeback

VOLUME ["/data"]
EXPOSE 8000

# gunicorn reads WEB_CONCURRENCY for its number of worker processes.
CMD ["gunicorn", "chargeback.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
