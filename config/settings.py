"""Jangteo settings: everything from the environment (12-factor), with embedded defaults that
need no server: SQLite and files under var/, a filesystem Celery broker, console e-mail.

Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis); see README.md.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
VAR_DIR = Path(env.str("JANGTEO_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-jangteo-development-only"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "csp",
    "marketplace",
    "accounts",
    "catalog",
    "transactions",
    "insights",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Outside LocaleMiddleware, so it sees the answer's Content-Language.
    "marketplace.korean.ParticleMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "marketplace.context.RequestContextMiddleware",
    "marketplace.context.RejectInvalidTextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.views.navigation",  # the web's menu by the user's roles
                "config.views.operator_details",  # the footer's operator and documents
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'jangteo.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-backed test database, so that a real worker process can share it in tests.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-jangteo.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- License keys (transactions/keystore.py; docs/privacy.md "Keys apart") -------------------
# License keys are stored only encrypted under a key-encryption key (KEK) that never touches the
# database. JANGTEO_KEK: 32 bytes, URL-safe base64; required with DEBUG off (`check --deploy`).
KEYSTORE_KEK = env.str("JANGTEO_KEK", default="")
if not KEYSTORE_KEK and DEBUG:
    # development only (= transactions.keystore.DEVELOPMENT_KEK; `check --deploy` refuses it)
    KEYSTORE_KEK = "-qjxYnPb8ijtK-JCPFQzWpAehmLTlmYxrHKpGj7bcR4="
# Older KEKs, kept only while `manage.py rotate-keys` re-encrypts the keys under the new one.
KEYSTORE_PREVIOUS_KEKS = env.list("JANGTEO_KEK_PREVIOUS", default=[])
# A KMS instead of the environment: a class with current_id(), wrap(), unwrap().
KEYSTORE_KEK_PROVIDER = env.str("KEYSTORE_KEK_PROVIDER", default="transactions.keystore.EnvironmentKEK")
# The key store in its own database (own credentials, own backups): `migrate --database keys`.
if env.str("KEYSTORE_DATABASE_URL", default=""):
    DATABASES["keys"] = env.db_url("KEYSTORE_DATABASE_URL")
DATABASE_ROUTERS = ["transactions.keystore.KeyStoreRouter"]

# Shared cache in production (CACHE_URL=redis://…); per-process memory by default.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://jangteo")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "marketplace.cache.RedisCache"  # one client per pool
# How long public catalog pages stay cached. Every change bumps a generation kept in the cache:
# with a shared cache every process sees it at once, so entries may live long; with the
# per-process default, other processes see a change only when their entries expire.
_SHARED_CACHE = "locmem" not in CACHES["default"]["BACKEND"] and "dummy" not in CACHES["default"]["BACKEND"]
CATALOG_CACHE_SECONDS = env.int("CATALOG_CACHE_SECONDS", default=600 if _SHARED_CACHE else 30)

# --- Accounts and permissions ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out credentials before any check
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous visitors get no object permissions
GUARDIAN_RAISE_403 = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Lockout after repeated failed logins (web, admin and the token endpoint), per account and
# address, so guessing one password cannot lock its owner out from everywhere.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.security.login_identity"
AXES_CLIENT_IP_CALLABLE = "accounts.security.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.security.lockout_response"
# ...and the account itself, from every address, after this many failures in the cool-off window
# from any number of addresses (accounts.lockout.LockoutHandler).
AXES_HANDLER = "accounts.lockout.LockoutHandler"
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", default=20)
# API tokens expire; invitations lapse; an organization sends a bounded number of invitations a day.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=30)
INVITATION_DAYS = env.int("INVITATION_DAYS", default=14)
INVITATIONS_PER_DAY = env.int("INVITATIONS_PER_DAY", default=20)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "ko"
# Our Korean date and time formats (config/formats/ko) over Django's.
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGES = [("ko", _("Korean")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_TZ = True

# --- Static files and storage ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    # S3-compatible object storage (AWS, MinIO, NCloud…); credentials from the usual AWS_* vars.
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
            # The download view redirects to a presigned URL only after checking the link's
            # person and license: keep that URL as short-lived as the check.
            "querystring_expire": 60,
            "file_overwrite": False,
        },
    }
else:
    DEFAULT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploads larger than this stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 2**20
FILE_UPLOAD_TEMP_DIR = str(VAR_DIR / "tmp" / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 2**20
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=2 * 2**30)
UPLOAD_MAX_UNCOMPRESSED_BYTES = env.int("UPLOAD_MAX_UNCOMPRESSED_BYTES", default=10 * 2**30)
# Uploads beyond UPLOAD_MAX_BYTES arrive in pieces over tus (catalog/tus.py), spooled on this
# disk (keep it on MEDIA_ROOT's disk: a finished upload is then moved, not copied) and removed
# once untouched for RESUMABLE_UPLOAD_EXPIRY_HOURS.
RESUMABLE_UPLOAD_DIR = env.str("RESUMABLE_UPLOAD_DIR", default=str(VAR_DIR / "tmp" / "resumable"))
RESUMABLE_UPLOAD_MAX_BYTES = env.int("RESUMABLE_UPLOAD_MAX_BYTES", default=100 * 2**30)
RESUMABLE_UPLOAD_EXPIRY = timedelta(hours=env.int("RESUMABLE_UPLOAD_EXPIRY_HOURS", default=24))
RESUMABLE_UPLOADS_PER_USER = env.int("RESUMABLE_UPLOADS_PER_USER", default=10)
# The upload page sends files above this size (or the single-request limit) in pieces.
RESUMABLE_WEB_FROM_BYTES = env.int("RESUMABLE_WEB_FROM_BYTES", default=64 * 2**20)
RESUMABLE_WEB_CHUNK_BYTES = env.int("RESUMABLE_WEB_CHUNK_BYTES", default=16 * 2**20)
# Records extracts and record offers' risk reports scanning at least SPARK_MIN_SCAN_BYTES run on
# Spark through Spark Connect (catalog/spark.py), when SPARK_REMOTE (sc://host:15002) is set and
# the offer compiles.
SPARK_REMOTE = env.str("SPARK_REMOTE", default="")
SPARK_MIN_SCAN_BYTES = env.int("SPARK_MIN_SCAN_BYTES", default=8 * 2**30)
# How often the Spark Connect client retries a lost server before the task's own retries take
# over (with backoff from 0.5 s to 15 s: five retries is about a minute).
SPARK_CONNECT_RETRIES = env.int("SPARK_CONNECT_RETRIES", default=5)
# Imports from the centers' own prefixes in object storage, s3://IMPORT_BUCKET/IMPORT_PREFIX/<center
# id>/ (catalog/import_store.py); unset IMPORT_BUCKET turns imports off. Credentials: the
# IMPORT_S3_* pair when set, else boto3's usual chain (AWS_* variables, instance role).
IMPORT_BUCKET = env.str("IMPORT_BUCKET", default="")
IMPORT_PREFIX = env.str("IMPORT_PREFIX", default="centers")
IMPORT_S3_ENDPOINT_URL = env.str("IMPORT_S3_ENDPOINT_URL", default=env.str("AWS_S3_ENDPOINT_URL", default=""))
IMPORT_S3_REGION = env.str("IMPORT_S3_REGION", default=env.str("AWS_S3_REGION_NAME", default=""))
IMPORT_S3_ACCESS_KEY_ID = env.str("IMPORT_S3_ACCESS_KEY_ID", default="")
IMPORT_S3_SECRET_ACCESS_KEY = env.str("IMPORT_S3_SECRET_ACCESS_KEY", default="")
IMPORT_MAX_FILES = env.int("IMPORT_MAX_FILES", default=500)
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=50 * 2**30)
IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("IMPORT_MAX_UNCOMPRESSED_BYTES", default=250 * 2**30)

# --- DuckDB ---------------------------------------------------------------------------------
DUCKDB_MEMORY_LIMIT = env.str("DUCKDB_MEMORY_LIMIT", default="1GB")
DUCKDB_THREADS = env.int("DUCKDB_THREADS", default=2)
DUCKDB_TEMP_DIR = env.str("DUCKDB_TEMP_DIR", default=str(VAR_DIR / "tmp" / "duckdb"))
INGEST_QUEUE_DEADLINE = timedelta(minutes=env.int("INGEST_QUEUE_DEADLINE_MINUTES", default=15))
INGEST_RUN_DEADLINE = timedelta(minutes=env.int("INGEST_RUN_DEADLINE_MINUTES", default=90))
INGEST_MAX_ATTEMPTS = env.int("INGEST_MAX_ATTEMPTS", default=3)
EXTRACT_DEFAULT_FORMAT = env.str("EXTRACT_DEFAULT_FORMAT", default="csv_bom")
EXTRACT_QUEUE_DEADLINE = timedelta(minutes=env.int("EXTRACT_QUEUE_DEADLINE_MINUTES", default=15))
EXTRACT_RUN_DEADLINE = timedelta(minutes=env.int("EXTRACT_RUN_DEADLINE_MINUTES", default=120))
EXTRACT_MAX_ATTEMPTS = env.int("EXTRACT_MAX_ATTEMPTS", default=3)
EXTRACT_RETENTION_DAYS = env.int("EXTRACT_RETENTION_DAYS", default=30)
DOWNLOAD_LINK_SECONDS = env.int("DOWNLOAD_LINK_SECONDS", default=600)
WORK_DIR = Path(env.str("JANGTEO_WORK_DIR", default=str(VAR_DIR / "tmp" / "work")))
# Each worker keeps aggregate offers' protected tables, built once per version and policy and
# narrowed per license (catalog/released_cache.py); 0 bytes turns the cache off.
RELEASED_CACHE_DIR = env.str("RELEASED_CACHE_DIR", default=str(VAR_DIR / "cache" / "released"))
RELEASED_CACHE_BYTES = env.int("RELEASED_CACHE_BYTES", default=2 * 2**30)

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Jangteo <noreply@jangteo.test>")

# --- Celery ---------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis: a message not acknowledged in this long is delivered again (longer than any task).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_RESULT_BACKEND = None  # PostgreSQL rows are the source of truth for every job
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=55 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "marketplace.tasks.worker_heartbeat", "schedule": timedelta(minutes=1)},
    "transactions-sweep-stuck-extracts": {
        "task": "transactions.tasks.sweep_stuck_extracts",
        "schedule": timedelta(minutes=5),
    },
    "transactions-purge-extract-files": {
        "task": "transactions.tasks.purge_extract_files",
        "schedule": timedelta(days=1),
    },
    "catalog-sweep-stuck-versions": {
        "task": "catalog.tasks.sweep_stuck_versions",
        "schedule": timedelta(minutes=5),
    },
    # Dataset views buffered in the shared Redis cache, written in batches (catalog/view_log.py).
    "catalog-flush-dataset-views": {
        "task": "catalog.tasks.flush_dataset_views",
        "schedule": timedelta(seconds=env.int("DATASET_VIEWS_FLUSH_SECONDS", default=30)),
    },
    # Risk measurements a lost worker never finished are queued again (catalog.services).
    "catalog-sweep-stuck-risk-measurements": {
        "task": "catalog.tasks.sweep_stuck_risk_measurements",
        "schedule": timedelta(minutes=10),
    },
    "catalog-sweep-expired-uploads": {
        "task": "catalog.tasks.sweep_expired_uploads",
        "schedule": timedelta(hours=1),
    },
    "transactions-expire-licenses": {
        "task": "transactions.tasks.expire_licenses",
        "schedule": timedelta(hours=1),
    },
    "transactions-lapse-requests": {
        "task": "transactions.tasks.lapse_overdue_requests",
        "schedule": timedelta(days=1),
    },
    "transactions-renewal-reminders": {
        "task": "transactions.tasks.send_renewal_reminders",
        "schedule": timedelta(days=1),
    },
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.security.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "marketplace.api.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "marketplace.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "marketplace.parsers.SafeMultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "marketplace.api.exception_handler",
    # Every view: anonymous callers per address, signed-in ones per user; views with a scope
    # (sign-in, uploads, downloads, and the costly previews and feeds) count it as well.
    "DEFAULT_THROTTLE_CLASSES": [
        "marketplace.throttling.AnonThrottle",
        "marketplace.throttling.UserThrottle",
        "marketplace.throttling.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="300/min"),
        "user": env.str("THROTTLE_USER", default="1200/min"),
        "auth": env.str("THROTTLE_AUTH", default="20/min"),
        "upload": env.str("THROTTLE_UPLOAD", default="60/hour"),
        "download": env.str("THROTTLE_DOWNLOAD", default="120/hour"),
        "preview": env.str("THROTTLE_PREVIEW", default="60/hour"),
        "feed": env.str("THROTTLE_FEED", default="30/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Jangteo API",
    "DESCRIPTION": "장터 — a data exchange for regional economic data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketplace.openapi.drop_parameter_titles",
        "marketplace.openapi.open_operations_need_no_security",
        "marketplace.openapi.json_request_bodies",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrganizationKindEnum": "accounts.models.Organization.Kind",
        "SignupKindEnum": [("center", "Data center"), ("buyer", "Buyer")],
        "BuyerCategoryEnum": "accounts.models.Organization.BuyerCategory",
        "SensitivityEnum": "catalog.models.Sensitivity",
        "OfferKindEnum": "catalog.models.Offer.Kind",
        "DatasetStatusEnum": "catalog.models.Dataset.Status",
        "VersionStatusEnum": "catalog.models.DatasetVersion.Status",
    },
}

# --- Security (production: DEBUG off) --------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts and styles from this site only, no inline code,
# nothing from elsewhere. Pages keep their JavaScript in static/js and styles in static/css.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# The admin's address is not guessable from the outside: set ADMIN_PATH (e.g. `ops-4f9c/`).
ADMIN_PATH = env.str("ADMIN_PATH", default="admin/").strip("/") + "/"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Jangteo --------------------------------------------------------------------------------
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
REQUEST_REVIEW_DEADLINE_DAYS = env.int("REQUEST_REVIEW_DEADLINE_DAYS", default=30)
# The risk threshold of record-level offers while the operator has set none (catalog.risk_reports;
# the keys of catalog.risk.RiskThreshold). Empty: RiskThreshold's defaults.
RISK_THRESHOLD_DEFAULTS: dict = {}
# A record offer over a version of more rows than this has its risk measured by a worker (the
# offer stays closed until the report passes; bench/risk.py: 140,000-265,000 rows a second on 2
# cores, so the default keeps a request's measurement within a few seconds).
RISK_INLINE_MAX_ROWS = env.int("RISK_INLINE_MAX_ROWS", default=500_000)
# How long a worker may measure one offer's risk (seconds) before the report is given up as
# failed: a whole version is read, about 20 hours at 10^10 rows on 2 cores with DuckDB; above
# SPARK_MIN_SCAN_BYTES Spark measures it (docs/scale.md).
RISK_MEASURE_TIME_LIMIT = env.int("RISK_MEASURE_TIME_LIMIT", default=36 * 3600)
# The Celery queue of risk measurements. Production gives them a worker of their own
# (docker-compose.yml: worker-risk), so extracts and ingestion never wait behind one of many
# hours. Empty: the default queue, which `make run`'s one worker serves.
RISK_MEASURE_QUEUE = env.str("RISK_MEASURE_QUEUE", default="")
if RISK_MEASURE_QUEUE:
    CELERY_TASK_ROUTES = {"catalog.tasks.measure_offer_risk": {"queue": RISK_MEASURE_QUEUE}}

# --- The operator and its documents (shown in every page's footer, the terms and the privacy
# policy). Embedded values are the demo's; production sets its own. Bumping a version asks new
# sign-ups to agree to the new text (the version each person agreed to is kept).
# 사업자등록증 uploaded at sign-up (PDF, PNG or JPEG).
CERTIFICATE_MAX_BYTES = env.int("CERTIFICATE_MAX_BYTES", default=5 * 1024 * 1024)
TERMS_VERSION = env.str("TERMS_VERSION", default="2026-12-01")
PRIVACY_POLICY_VERSION = env.str("PRIVACY_POLICY_VERSION", default="2026-12-01")
OPERATOR_DETAILS = {
    "name": env.str("OPERATOR_NAME", default="장터 데모 운영사"),
    "representative": env.str("OPERATOR_REPRESENTATIVE", default="홍길동"),
    "business_number": env.str("OPERATOR_BUSINESS_NUMBER", default="123-45-67891"),
    "mail_order_number": env.str("OPERATOR_MAIL_ORDER_NUMBER", default="제2026-경기수원-0000호 (데모)"),
    "address": env.str("OPERATOR_ADDRESS", default="경기도 수원시 팔달구 효원로 1 (데모 주소)"),
    "phone": env.str("OPERATOR_PHONE", default="031-000-0000"),
    "email": env.str("OPERATOR_EMAIL", default="help@jangteo.test"),
    "hours": env.str("SUPPORT_HOURS", default="09:00–18:00 (월–금, 공휴일 제외)"),
    "privacy_officer": env.str("PRIVACY_OFFICER", default="김보호"),
    "privacy_email": env.str("PRIVACY_EMAIL", default="privacy@jangteo.test"),
}

# --- Payments (transactions/payments.py): bank transfer always; Toss Payments when its secret
# key is set (test keys `test_sk_…` take no real money).
PAYMENT_BANK_ACCOUNT = env.str(
    "PAYMENT_BANK_ACCOUNT", default="장터은행 301-0000-0000-00 (예금주: 장터 데모 운영사)"
)
TOSS_SECRET_KEY = env.str("TOSS_SECRET_KEY", default="")
TOSS_API_URL = env.str("TOSS_API_URL", default="https://api.tosspayments.com/v1/payments/confirm")
TOSS_TIMEOUT_SECONDS = env.int("TOSS_TIMEOUT_SECONDS", default=10)
