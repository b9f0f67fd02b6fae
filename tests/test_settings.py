"""Settings come from the environment; production settings pass Django's deployment checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 64 + "-not-a-real-secret-but-long-and-random-enough-%$#",
    "ALLOWED_HOSTS": "jangteo.example.kr",
    "DATABASE_URL": "postgres://jangteo:pw@db.internal:5432/jangteo",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "JANGTEO_KEK": "bm90LWEtcmVhbC1rZWstYnV0LTMyLWJ5dGVzLWxvbmc=",
}


# Variables of the test process that a production process would not have (the browser tests
# allow Django's async-unsafe calls for Playwright, which check --deploy rightly refuses).
TEST_ONLY = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "DEBUG",
    "SECRET_KEY",
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "CELERY_TASK_ALWAYS_EAGER",
    "JANGTEO_VAR_DIR",
}


def production_like_environ() -> dict:
    return {k: v for k, v in os.environ.items() if k not in TEST_ONLY}


def run_python(code: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            **production_like_environ(),
            "JANGTEO_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_settings(env: dict, tmp_path, *names: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = run_python(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_defaults_need_no_server(tmp_path):
    values = read_settings(
        {"DEBUG": "1"}, tmp_path, "DATABASES", "CELERY_BROKER_URL", "STORAGES", "EMAIL_BACKEND"
    )
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"].startswith(str(tmp_path))
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    assert (tmp_path / "broker" / "queue").is_dir()
    assert values["STORAGES"]["default"]["BACKEND"].endswith("FileSystemStorage")
    assert values["EMAIL_BACKEND"].endswith("console.EmailBackend")


def test_production_values_come_from_the_environment(tmp_path):
    values = read_settings(
        {
            **PRODUCTION_ENV,
            "AWS_STORAGE_BUCKET_NAME": "jangteo-data",
            "AWS_S3_ENDPOINT_URL": "https://s3.example.kr",
        },
        tmp_path,
        "DATABASES",
        "CELERY_BROKER_URL",
        "STORAGES",
        "ALLOWED_HOSTS",
        "DEBUG",
        "CELERY_TASK_ACKS_LATE",
        "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_ACCEPT_CONTENT",
    )
    db = values["DATABASES"]["default"]
    assert (db["ENGINE"], db["HOST"], db["NAME"], db["USER"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        "jangteo",
        "jangteo",
    )
    assert values["CELERY_BROKER_URL"] == "redis://redis.internal:6379/0"
    assert values["STORAGES"]["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert values["STORAGES"]["default"]["OPTIONS"]["bucket_name"] == "jangteo-data"
    assert values["ALLOWED_HOSTS"] == ["jangteo.example.kr"]
    assert values["DEBUG"] is False
    assert values["CELERY_TASK_ACKS_LATE"] and values["CELERY_TASK_REJECT_ON_WORKER_LOST"]
    assert values["CELERY_ACCEPT_CONTENT"] == ["json"]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_python("import django; django.setup()", env, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={
            **production_like_environ(),
            "JANGTEO_VAR_DIR": str(tmp_path),
            **PRODUCTION_ENV,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_warns_about_a_per_process_cache(tmp_path):
    """Rate limits counted per process could be multiplied by the number of workers."""
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CACHE_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**production_like_environ(), "JANGTEO_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "jangteo.W001" in result.stderr + result.stdout and "CACHE_URL" in result.stderr + result.stdout


@pytest.mark.slow
def test_check_deploy_requires_a_key_encryption_key(tmp_path):
    """License keys are encrypted under JANGTEO_KEK; production must not use the development one."""
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "JANGTEO_KEK"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env={**production_like_environ(), "JANGTEO_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "jangteo.E101" in result.stderr + result.stdout and "JANGTEO_KEK" in result.stderr + result.stdout


def test_the_admin_path_comes_from_the_environment(tmp_path):
    code = "import django; django.setup(); from django.urls import reverse; print(reverse('admin:index'))"
    result = run_python(code, {**PRODUCTION_ENV, "ADMIN_PATH": "/ops-4f9c/"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "/ops-4f9c/"
    default = run_python(code, PRODUCTION_ENV, tmp_path)
    assert default.stdout.splitlines()[0] == "/admin/"


def test_production_pages_carry_a_content_security_policy_without_inline_code(tmp_path):
    values = read_settings(PRODUCTION_ENV, tmp_path, "CONTENT_SECURITY_POLICY", "MIDDLEWARE")
    directives = values["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert "csp.middleware.CSPMiddleware" in values["MIDDLEWARE"]


def test_risk_measurements_go_to_their_own_queue_where_production_says_so(tmp_path):
    """Production (docker-compose.yml) routes risk measurements to a worker of their own; the
    embedded defaults keep one queue for `make run`'s one worker."""
    import yaml

    route = (
        "import django; django.setup(); from config.celery import app; "
        "print(app.amqp.router.route({}, 'catalog.tasks.measure_offer_risk')['queue'].name, "
        "app.amqp.router.route({}, 'transactions.tasks.build_extract')['queue'].name)"
    )
    routed = run_python(route, {**PRODUCTION_ENV, "RISK_MEASURE_QUEUE": "risk"}, tmp_path)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.split()[-2:] == ["risk", "celery"]
    embedded = run_python(route, {"DEBUG": "1"}, tmp_path)
    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout.split()[-2:] == ["celery", "celery"]

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    queue = compose["x-app"]["environment"]["RISK_MEASURE_QUEUE"]
    consumers = [
        name
        for name, service in compose["services"].items()
        if "worker" in service.get("command", []) and queue in service["command"]
    ]
    assert consumers == ["worker-risk"]
    assert "-Q" not in compose["services"]["worker"]["command"]  # the default queue's worker
