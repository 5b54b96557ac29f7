#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# `site/` is the Django project folder. It cannot be imported as a package
# (the standard library's `site` module is loaded at start-up), so it goes on
# the import path and its settings package is imported as `config`.
sys.path.insert(0, str(ROOT / "site"))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
