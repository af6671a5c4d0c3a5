"""Settings of the TextVote portal, all read from environment variables.

The helpers below read one variable each and refuse a malformed value with a message that
names the variable, so a bad deployment fails at start-up rather than on the first request.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from deploy.local import outputs as local_outputs
from lambdas.shared import resource_names

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
MIN_SECRET_KEY_CHARS = 50
MIN_SECRET_KEY_UNIQUE_CHARS = 5
# The hosts of a portal that only this machine reaches.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_DEVELOPMENT_SECRET_KEY = "django-insecure-textvote-local-development-only"


def env_str(name: str, default: str, *, allow_empty: bool = False) -> str:
    """The variable's value, or `default` when it is not set.

    Set but empty is refused unless `allow_empty`: an empty table name or secret is always a
    mistake, while an empty AWS_ENDPOINT_URL deliberately means "real AWS".
    """
    value = os.environ.get(name)
    if value is None:
        return default
    if not value.strip() and not allow_empty:
        raise ImproperlyConfigured(f"environment variable {name} is set but empty")
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"environment variable {name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"environment variable {name} must be a whole number, not {raw!r}"
        ) from None


def env_list(name: str, default: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_resource_name(resource: resource_names.Resource) -> str:
    """The resource's name from its variable; by default, the local backend's name for it."""
    return env_str(resource.variable, resource.local_name)


def is_real_secret_key(key: str) -> bool:
    """Whether `key` could sign sessions in production: long, varied, not Django's
    placeholder (the rule of `manage.py check --deploy`)."""
    return (
        len(key) >= MIN_SECRET_KEY_CHARS
        and len(set(key)) >= MIN_SECRET_KEY_UNIQUE_CHARS
        and not key.startswith("django-insecure-")
    )


BASE_DIR = Path(__file__).resolve().parent.parent

# Safe unless told otherwise: DEBUG is off unless DEBUG=true (`make run` and the tests set
# it); with DEBUG off the portal serves only over HTTPS, with secure cookies and HSTS unless
# told otherwise (`manage.py check --deploy` is then clean). A portal that talks to AWS
# (AWS_ENDPOINT_URL empty) or serves other hosts than this machine's refuses to start without a
# real SECRET_KEY, whatever DEBUG says; only a local portal on the emulator (`make run`, a
# second terminal's manage.py, the tests) falls back to a development key.
DEBUG = env_bool("DEBUG", False)
# The embedded emulator of `make run` by default; set to an empty string for real AWS.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", allow_empty=True)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ",".join(LOCAL_HOSTS) if DEBUG or AWS_ENDPOINT_URL else ""
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "environment variable ALLOWED_HOSTS must be set when DEBUG is off and the portal "
        "talks to AWS"
    )
_LOCAL_ONLY = bool(AWS_ENDPOINT_URL) and set(ALLOWED_HOSTS) <= set(LOCAL_HOSTS)
SECRET_KEY = env_str("SECRET_KEY", _DEVELOPMENT_SECRET_KEY if _LOCAL_ONLY else "")
if not _LOCAL_ONLY and not is_real_secret_key(SECRET_KEY):
    raise ImproperlyConfigured(
        f"environment variable SECRET_KEY must be a real secret (at least {MIN_SECRET_KEY_CHARS} "
        "random characters, not django-insecure-…) when the portal talks to AWS "
        "(AWS_ENDPOINT_URL empty) or serves other hosts than this machine (ALLOWED_HOSTS)"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    # A load balancer terminates TLS and says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of the portal append the address they received from to
# X-Forwarded-For: the login throttle (portal/login_throttle.py) reads the client's address
# there, never the header when none is configured. One behind the TLS proxy, unless set.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if BEHIND_TLS_PROXY else 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured(
        f"environment variable TRUSTED_PROXY_COUNT must be 0 or more, not {TRUSTED_PROXY_COUNT}"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "polls",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if "DATABASE_URL" not in os.environ:
    # The default SQLite file lives in the git-ignored data/ directory.
    (BASE_DIR / "data").mkdir(exist_ok=True)
try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'data' / 'portal.sqlite3'}",
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        )
    }
except ValueError as error:
    raise ImproperlyConfigured(
        f"environment variable DATABASE_URL is not a usable database URL: {error}"
    ) from None

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".build" / "static"

# AWS. The services read these at call time (polls/services/aws.py), never at import.
AWS_REGION = env_str("AWS_REGION", "us-east-1")
# AWS_ENDPOINT_URL is read above, with the security settings. An emulator accepts any
# credentials. Against AWS, None leaves boto3's own credential chain
# (environment, profile, instance role) in charge.
AWS_ACCESS_KEY_ID: str | None = env_str("AWS_ACCESS_KEY_ID", "local") if AWS_ENDPOINT_URL else None
AWS_SECRET_ACCESS_KEY: str | None = (
    env_str("AWS_SECRET_ACCESS_KEY", "local") if AWS_ENDPOINT_URL else None
)

# Resource names (lambdas/shared/resource_names.py).
CONFIG_TABLE = env_resource_name(resource_names.CONFIG_TABLE)
VOTES_TABLE = env_resource_name(resource_names.VOTES_TABLE)
AGGREGATES_TABLE = env_resource_name(resource_names.AGGREGATES_TABLE)
DASHBOARD_BUCKET = env_resource_name(resource_names.DASHBOARD_BUCKET)
# The KMS key that signs audit packs (polls/services/audit_pack.py): its id, or locally its alias.
AUDIT_SIGNING_KEY_ID = env_resource_name(resource_names.AUDIT_SIGNING_KEY)

# Where Twilio must send incoming messages; shown to organisers next to each poll's number.
PUBLIC_WEBHOOK_URL = env_str("PUBLIC_WEBHOOK_URL", "http://127.0.0.1:3000/sms")

# The Twilio account whose numbers the portal configures (polls/services/twilio_numbers.py).
# Empty means "not configured": the action then says so instead of failing. Django's error
# pages hide settings named like *TOKEN. The API base URL is Twilio's unless set (tests point
# it at a local stand-in of the REST API).
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "", allow_empty=True)
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "", allow_empty=True)
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL", "", allow_empty=True)

# The public results pages (polls/services/dashboard.py). The identity pool gives the page
# read-only guest credentials; the base URL is where the bucket is served (CloudFront or a
# custom domain on AWS; the emulator's path-style bucket URL locally).
DASHBOARD_IDENTITY_POOL_ID = env_str(
    resource_names.DASHBOARD_IDENTITY_POOL.variable, "", allow_empty=True
)
DASHBOARD_BASE_URL = env_str(
    "DASHBOARD_BASE_URL",
    f"{AWS_ENDPOINT_URL.rstrip('/')}/{DASHBOARD_BUCKET}" if AWS_ENDPOINT_URL else "",
    allow_empty=True,
)

# The stack `manage.py deploy` deployed last (deploy/aws/outputs.py writes this file). When the
# portal talks to AWS (AWS_ENDPOINT_URL empty), its region, table, bucket, identity pool and
# URLs are the defaults of the settings above; environment variables still win. Locally (an
# emulator endpoint) the file is ignored, so a deploy never redirects `make run` or the tests.
STACK_OUTPUTS_FILE = Path(
    env_str("STACK_OUTPUTS_FILE", str(BASE_DIR / "data" / "stack-outputs.json"))
)


def _deployed_settings(path: Path) -> dict[str, str]:
    import json  # only needed here, at the end of the settings

    if not path.exists():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ImproperlyConfigured(
            f"{path} (STACK_OUTPUTS_FILE) is not a stack outputs file written by "
            f"`manage.py deploy` ({error!r}): deploy again or delete it"
        ) from None
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise ImproperlyConfigured(f"{path} (STACK_OUTPUTS_FILE) has malformed settings")
    return values


if not AWS_ENDPOINT_URL:
    # Each setting the outputs give (resource_names.SETTINGS_FROM_OUTPUTS) replaces its
    # default above, unless its environment variable was set (and read above).
    for _setting, _value in _deployed_settings(STACK_OUTPUTS_FILE).items():
        if _setting in resource_names.SETTINGS_FROM_OUTPUTS and _setting not in os.environ:
            globals()[_setting] = _value

# What the running `make run` created (deploy/local/outputs.py writes this file): when the
# portal talks to that emulator, its identity pool and webhook URL are the defaults of the
# settings above, so `manage.py` commands work from another terminal; environment variables
# still win. A file that names another emulator (another port) is ignored; a clean stop of
# `make run` removes it.
LOCAL_OUTPUTS_FILE = local_outputs.local_outputs_path()
if AWS_ENDPOINT_URL:
    try:
        _local_settings = local_outputs.portal_settings_from_local_outputs(
            LOCAL_OUTPUTS_FILE, AWS_ENDPOINT_URL
        )
    except local_outputs.MalformedLocalOutputs as error:
        raise ImproperlyConfigured(
            f"{LOCAL_OUTPUTS_FILE} ({local_outputs.LOCAL_OUTPUTS_VARIABLE}) is not a file "
            f"written by `make run` ({error}): start `make run` again or delete it"
        ) from None
    for _setting, _value in _local_settings.items():
        if _setting not in os.environ:
            globals()[_setting] = _value
