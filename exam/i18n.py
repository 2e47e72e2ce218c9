"""Languages: Simplified Chinese and English, following the browser with a switch that sticks."""

from __future__ import annotations

from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import current_app, request, session
from flask_login import current_user

ROOT = Path(__file__).resolve().parent.parent
# Each package keeps its own catalogue so that areas translate independently; Flask-Babel merges them.
TRANSLATION_DIRS = [ROOT / pkg / "translations" for pkg in ("exam", "itembank", "proctor", "grading")]


def compile_catalogs() -> None:
    """Compile every .po whose .mo is missing or older, so a fresh checkout needs no separate build step.

    Catalogues are kept under the familiar folder name (zh_CN) but compiled into the folder named by Babel's
    canonical identifier (zh_Hans_CN), which is what Flask-Babel looks up after Locale.parse("zh_CN").
    """
    for directory in TRANSLATION_DIRS:
        for po_path in directory.glob("*/LC_MESSAGES/*.po"):
            canonical = str(Locale.parse(po_path.parent.parent.name))
            mo_path = directory / canonical / "LC_MESSAGES" / po_path.with_suffix(".mo").name
            mo_path.parent.mkdir(parents=True, exist_ok=True)
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)


def select_locale() -> str:
    """The explicit choice (session, then profile) wins over the browser's Accept-Language."""
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return str(current_user.locale)
    best = request.accept_languages.best_match(["zh_CN", "zh", "zh-CN", "en"]) if request else None
    if best and best.startswith("zh"):
        return "zh_CN"
    return "en"
