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
