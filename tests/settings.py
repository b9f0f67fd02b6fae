"""Settings for the test suite: the production settings module with test-only speed-ups.

The database and broker still come from DATABASE_URL / CELERY_BROKER_URL, so CI runs the
same suite on PostgreSQL and Redis."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault(
    "JANGTEO_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    # Relaxed for the suite (tests/test_throttles.py puts real rates back with override_settings).
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "feed": None,
        "auth": "1000/min",
        "upload": "1000/min",
        "download": "1000/min",
        "preview": "1000/min",
        "anon": None,
        "user": None,
    },
}

# Relaxed for the suite: its small fixture files are never k-anonymous. The tests of the risk
# threshold (tests/privacy/test_records_linkage.py) put the real defaults back.
RISK_THRESHOLD_DEFAULTS = {"min_k": 1, "max_sample_uniqueness": 1.0, "max_unicity": 1.0, "max_linkage": 1.0}

# Imports from object storage (catalog/import_store.py) are tested against a real S3 server over
# HTTP: CI's standalone moto server (S3_TEST_ENDPOINT_URL, set by .ci/run), else a moto server
# the suite starts in-process (tests/conftest.py) on a free port chosen here. The port goes into
# the environment so that the Celery worker the tests start reads the same endpoint.
S3_TEST_SERVER_IN_PROCESS = "S3_TEST_ENDPOINT_URL" not in os.environ
if S3_TEST_SERVER_IN_PROCESS:
    from tests.services import free_port

    os.environ["S3_TEST_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
IMPORT_BUCKET = "jangteo-imports"
IMPORT_S3_ENDPOINT_URL = os.environ["S3_TEST_ENDPOINT_URL"]
IMPORT_S3_REGION = "us-east-1"
IMPORT_S3_ACCESS_KEY_ID = "testing"
IMPORT_S3_SECRET_ACCESS_KEY = "testing"
