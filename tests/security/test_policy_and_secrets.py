"""The Content-Security-Policy allows no inline script, no template tries to use any, and
secrets come only from the environment.

(``manage.py check --deploy`` on the production settings, with no warning, and the
required variables having no defaults are tested in tests/config/test_production_settings.py;
the policy header itself in tests/config/test_csp.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [
    ROOT / "site" / "templates",
    ROOT / "lessons" / "templates",
    ROOT / "inference" / "templates",
]
STATIC_JS = ROOT / "site" / "static" / "js"

_TAG = re.compile(r"<[a-zA-Z][^<>]*>", re.S)
_INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
)
_HANDLER = re.compile(r"\s(on[a-z]+|hx-on[:\w-]*|data-hx-on[:\w-]*)\s*=", re.I)


def template_files() -> list[Path]:
    files = [path for base in TEMPLATE_DIRS for path in sorted(base.rglob("*.html"))]
    assert len(files) > 20
    return files


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_carry_no_inline_script_handlers_or_styles(path):
    text = path.read_text(encoding="utf-8")
    assert not _INLINE_SCRIPT.search(text), "inline <script>"
    assert "<style" not in text.lower(), "<style> element"
    assert "javascript:" not in text.lower()
    for tag in _TAG.findall(text):
        assert not _HANDLER.search(tag), f"event handler in {tag[:120]}"
        assert not re.search(r"\sstyle\s*=", tag, re.I), f"style attribute in {tag[:120]}"


def test_static_scripts_use_no_eval():
    for path in sorted(STATIC_JS.rglob("*.js")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\beval\s*\(|new\s+Function\s*\(|setTimeout\s*\(\s*['\"]", text), path


def test_the_policy_allows_no_inline_script_or_eval():
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    for name in ("script-src", "default-src", "style-src"):
        values = directives[name]
        assert "'unsafe-inline'" not in values and "'unsafe-eval'" not in values, name
        assert "*" not in values and "data:" not in values and "http:" not in values, name
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_every_page_response_carries_the_policy(client, db):
    for url in ("/", "/accounts/login/", "/accounts/signup/", "/progress/", "/demos/"):
        response = client.get(url)
        policy = response.get("Content-Security-Policy", "")
        assert "script-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, url


# --- Secrets --------------------------------------------------------------------------------

SECRET_PATTERNS = [
    re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9]{32,}\b"),
    re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"),
]
SCANNED = (
    "*.py",
    "*.yml",
    "*.yaml",
    "*.toml",
    "*.cfg",
    "*.ini",
    "*.md",
    "*.txt",
    "Dockerfile",
    "Makefile",
    ".env.example",
)
SKIP_PARTS = {
    ".venv",
    "var",
    "node_modules",
    ".git",
    "__pycache__",
    "staticfiles",
    "test-artifacts",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
}


def project_files() -> list[Path]:
    files = []
    for pattern in SCANNED:
        for path in ROOT.rglob(pattern):
            if not path.is_file() or SKIP_PARTS & set(path.relative_to(ROOT).parts):
                continue
            files.append(path)
    return sorted(set(files))


def test_no_secret_is_committed_in_the_source():
    found = []
    for path in project_files():
        if path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for pattern in SECRET_PATTERNS:
            if pattern.search(text):
                found.append(f"{path.relative_to(ROOT)}: {pattern.pattern}")
    assert found == []


def test_settings_take_secrets_from_the_environment_only():
    production = (ROOT / "site" / "config" / "settings" / "production.py").read_text()
    # Required with no default: a missing one stops the process at start-up.
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        assert re.search(rf'env(?:\.db)?\("{name}"\)', production), name
    for path in (ROOT / "site" / "config" / "settings").glob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            # (TOKENIZER is not a token: GPT2_TOKENIZER_DIR is a folder of public files)
            assignment = re.match(
                r"\s*(\w*(?:PASSWORD|SECRET|TOKEN(?!IZER)|API_KEY)\w*)\s*=\s*(.+)", line
            )
            if assignment and assignment.group(1) not in ("AUTH_PASSWORD_VALIDATORS",):
                assert "env(" in assignment.group(2) or assignment.group(2).startswith(
                    ("[", "{", "env")
                ), f"{path.name}: {line.strip()}"


def test_compose_and_the_example_env_hold_no_secret_values():
    compose = (ROOT / "docker-compose.yml").read_text()
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert re.search(rf"{name}: \$\{{{name}:\?", compose), name  # required, no default
    example = (ROOT / ".env.example").read_text()
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        assert re.search(rf"^{name}=$", example, re.M), name  # left empty to fill in
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_the_development_key_is_never_a_production_key():
    text = (ROOT / "site" / "config" / "settings" / "base.py").read_text()
    match = re.search(r'SECRET_KEY = env\("SECRET_KEY", default="([^"]+)"\)', text)
    assert match, "base.py reads SECRET_KEY from the environment"
    # check --deploy flags a key like this one (too short/insecure), and production.py
    # requires SECRET_KEY from the environment with no default at all.
    assert "insecure" in match.group(1) and len(match.group(1)) < 50
