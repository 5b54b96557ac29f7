"""Real-browser fixtures: Debian's chromium driven by Playwright's Python API.

`playwright install` can't download browsers here, so the tests launch the
system chromium (`make browser` installs it; ``CHROMIUM_PATH`` points at another). Where
there is none (`make browser` can't install it without root), the browser tests are
skipped, and pytest's summary says what to install. Screenshots go to
test-artifacts/screenshots/ (ignored by git) so people can look at them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from lessons.loader import course_load
from tests.inference import conftest as inference_fixtures
from tests.inference import widget_support

# Playwright's sync API runs an event loop in this thread; Django's ORM calls
# from the test body are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

MISSING_CHROMIUM = (
    "needs chromium: apt-get install chromium (as root; `make browser` does it where it can), "
    "or set CHROMIUM_PATH to a Chromium binary"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]


def chromium_executable() -> str | None:
    """``CHROMIUM_PATH`` when set (None unless it is an executable), else the ``chromium``
    on PATH, else Debian's /usr/bin/chromium; None when there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if os.access(found, os.X_OK) else None


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    if executable is None:
        where = os.environ.get("CHROMIUM_PATH")
        pytest.skip(
            f"CHROMIUM_PATH={where} is not an executable; {MISSING_CHROMIUM}"
            if where
            else MISSING_CHROMIUM
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser, request) -> Iterator[object]:
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


# --- A live site with a real model worker (test_demos.py, test_accessibility.py) -------------
# The demo tests' session fixtures, bound once here for every browser module: bound again in
# each module, each module would start a model worker of its own that beats on the same queue
# for the rest of the session, and a later "no worker is running" check would see it.
_inference_redis = inference_fixtures._inference_redis
_worker_manager = inference_fixtures._worker_manager
celery_worker_proc = inference_fixtures.celery_worker_proc
tiny_models_dir = inference_fixtures.tiny_models_dir
tiny_settings = inference_fixtures.tiny_settings
tiny_runtime = inference_fixtures.tiny_runtime
wordpiece_gpt = inference_fixtures.wordpiece_gpt
stored_examples = widget_support.stored_examples

CONTENT = Path(django_settings.BASE_DIR) / "lessons" / "content"


@pytest.fixture
def live(live_server, celery_worker_proc, tiny_settings, settings, stored_examples):
    """The live server configured like the worker, with the course and stored examples."""
    settings.INFERENCE_QUEUE = "inference"
    settings.DEMO_RATE_LIMIT_USER = "10000/m"
    settings.DEMO_RATE_LIMIT_IP = "10000/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": "browser-demos",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    report = course_load(directory=CONTENT)
    assert not report.errors
    celery_worker_proc.wait_ready()
    return live_server
