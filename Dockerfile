FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=config.settings JANGTEO_VAR_DIR=/var/lib/jangteo
RUN apt-get update && apt-get install -y --no-install-recommends gettext libpq5 \
    && rm -rf /var/lib/apt/lists/* && useradd --system --create-home jangteo \
    && mkdir -p /var/lib/jangteo && chown jangteo /var/lib/jangteo
WORKDIR /app
COPY requirements.txt requirements-spark.txt ./
RUN pip install -r requirements.txt -r requirements-spark.txt
COPY . .
RUN DEBUG=1 python manage.py collectstatic --noinput && DEBUG=1 python manage.py compilemessages --ignore=.venv
USER jangteo
EXPOSE 8000
# The configuration `make load` measures (bench/load.py): 3 processes × 8 threads; tune it with
# GUNICORN_CMD_ARGS (e.g. "--workers 5") without rebuilding.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-"]
