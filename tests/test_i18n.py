"""The interface in Simplified Chinese: every marked string has a Chinese translation.

Each part of the tree has its own catalogue (``<part>/locale/zh_Hans/LC_MESSAGES/django.po``).
A catalogue fails here when a string marked in a template or in Python is missing from it
(``makemessages`` run on a copy of the part finds it), when a message has no translation or is
still marked fuzzy, or when ``msgfmt --check`` finds a broken placeholder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
PARTS = ["site", "accounts", "lessons", "inference"]
CATALOGUE = "locale/zh_Hans/LC_MESSAGES/django.po"

needs_msgfmt = pytest.mark.skipif(
    shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is missing: make messages"
)


def msgids(po: Path) -> set[str]:
    """The msgids (singular) of a .po file, joined across continuation lines."""
    ids, current, collecting = set(), [], False
    for line in po.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            current, collecting = [line[6:]], True
        elif collecting and line.startswith('"'):
            current.append(line)
        else:
            if collecting:
                text = "".join(part.strip()[1:-1] for part in current)
                if text:
                    ids.add(text)
            collecting = False
    return ids


@needs_msgfmt
@pytest.mark.parametrize("part", PARTS)
def test_every_message_has_a_checked_chinese_translation(part):
    po = ROOT / part / CATALOGUE
    assert po.is_file(), f"{po} is missing: mark {part}'s strings and translate them"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", os.devnull, str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stats = result.stderr.strip()
    assert re.fullmatch(r"\d+ translated messages?\.", stats), f"{po}: {stats}"
    assert "#, fuzzy" not in po.read_text(encoding="utf-8").split("\n\n", 1)[1]


@needs_msgfmt
@pytest.mark.parametrize("part", PARTS)
def test_every_marked_string_is_in_the_catalogue(part, tmp_path, monkeypatch):
    copy = tmp_path / part
    shutil.copytree(
        ROOT / part,
        copy,
        ignore=shutil.ignore_patterns("locale", "__pycache__", "static", "migrations", "*.mo"),
    )
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    extracted = msgids(copy / CATALOGUE)
    missing = sorted(extracted - msgids(ROOT / part / CATALOGUE))
    assert missing == [], f"marked in {part} but not in its catalogue: {missing[:10]}"


@pytest.mark.django_db
def test_the_chinese_interface_is_used_on_chinese_pages(client):
    zh = client.get("/zh-hans/progress/").content.decode()
    en = client.get("/progress/").content.decode()
    with translation.override("zh-hans"):
        lessons = translation.pgettext("navigation", "Lessons")
    assert lessons != "Lessons" and f">{lessons}</a>" in zh
    assert ">Lessons</a>" in en and f">{lessons}</a>" not in en


@pytest.mark.django_db
def test_a_missing_page_is_explained_in_the_language_of_its_address(client):
    en = client.get("/lessons/no-such-lesson/")
    zh = client.get("/zh-hans/lessons/no-such-lesson/")
    assert en.status_code == zh.status_code == 404
    assert "Page not found" in en.content.decode()
    with translation.override("zh-hans"):
        assert translation.gettext("Page not found") in zh.content.decode()
    assert '<html lang="zh-Hans">' in zh.content.decode()


@pytest.mark.django_db
def test_the_demo_script_gets_its_messages_in_the_page_language(client):
    from lessons.loader import course_load

    course_load(directory=ROOT / "lessons" / "content")
    zh = client.get("/zh-hans/lessons/bert/").content.decode()
    en = client.get("/lessons/bert/").content.decode()
    english = "The site can't be reached right now. Check your connection and try again."
    with translation.override("zh-hans"):
        chinese = translation.gettext(english)
    assert chinese != english
    assert f'data-unreachable="{chinese}"' in zh
    assert 'data-unreachable="The site can&#x27;t be reached' in en
