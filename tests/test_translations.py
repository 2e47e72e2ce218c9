"""Every user-facing string in code and templates has a Simplified Chinese translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["exam", "itembank", "proctor", "grading"]
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _catalog_ids(package: str) -> set[str]:
    ids: set[str] = set()
    for po in (ROOT / package / "translations" / "zh_CN" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        ids |= {str(m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id and m.string}
    return ids


@pytest.mark.parametrize("package", PACKAGES)
def test_every_string_has_a_chinese_translation(package: str) -> None:
    translated = _catalog_ids(package)
    # Flask-Babel merges catalogues, so a string translated in the foundation's catalogue counts everywhere.
    shared = _catalog_ids("exam")
    missing = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT / package, METHODS, keywords=KEYWORDS, options_map=OPTIONS
    ):
        if "/tests/" in filename:
            continue
        msgid = message if isinstance(message, str) else message[0]
        if msgid and msgid not in translated and msgid not in shared:
            missing.append(f"{package}/{filename}: {msgid!r}")
    where = "<package>/translations/zh_CN/LC_MESSAGES/messages.po"
    assert not missing, f"untranslated strings (add them to {where}):\n" + "\n".join(sorted(set(missing)))
