"""`exam items import/export` in database mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from exam.auth.models import User
from exam.db import db
from itembank import services
from itembank.cli import EXPORT_FORMATS
from itembank.models import Item, ItemBank, Subject

ITEMS = [
    {
        "source_id": "c1",
        "type": "single_choice",
        "stem": "3 × 3 = ?",
        "options": [{"key": "A", "text": "6"}, {"key": "B", "text": "9"}],
        "key": "B",
        "knowledge_points": ["1.1"],
    },
    {"source_id": "c2", "type": "numerical", "stem": "π ≈ ?", "key": {"value": 3.14, "tolerance": 0.01, "units": []}},
]
BAD = {"source_id": "c3", "type": "true_false", "stem": "?", "key": "maybe"}


@pytest.fixture
def bank(app: Flask, make_user: Any) -> dict[str, Any]:
    owner_id = make_user("owner", "examiner")
    make_user("helper", "examiner")
    make_user("kid", "student")
    with app.app_context():
        subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
        db.session.add(subject)
        db.session.flush()
        found = services.create_bank(db.session, db.session.get(User, owner_id), "Physics 物理", subject.id)
        db.session.commit()
        return {"id": found.id, "subject": subject.id, "owner": owner_id}


def _write(tmp_path: Path, items: list[dict[str, Any]], name: str = "items.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def _items(app: Flask) -> list[Item]:
    with app.app_context():
        return list(db.session.scalars(select(Item).order_by(Item.source_id)))


def test_import_dry_run_report_then_real(app: Flask, bank: dict[str, Any], tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    path = _write(tmp_path, [*ITEMS, BAD])
    report_path = tmp_path / "report.json"
    # With a single bank in the database, --bank may be left out (DESIGN.md's form of the command).
    dry = runner.invoke(args=["items", "import", str(path), "--dry-run", "--report", str(report_path)])
    assert dry.exit_code == 0, dry.output
    assert "would import 2 items (numerical 1, single_choice 1); rejected 1" in dry.output
    assert "rejected c3: key: true or false (value: 'maybe')" in dry.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert set(report) == {"imported", "by_type", "rejected", "warnings"}
    assert report["imported"] == 2 and report["by_type"] == {"single_choice": 1, "numerical": 1}
    assert report["rejected"] == [{"item": "c3", "reason": "key: true or false (value: 'maybe')"}]
    assert _items(app) == []
    real = runner.invoke(args=["items", "import", str(path), "--bank", "Physics 物理", "--as", "owner"])
    assert real.exit_code == 0, real.output
    assert "imported 2 items" in real.output
    assert [i.source_id for i in _items(app)] == ["c1", "c2"]
    again = runner.invoke(args=["items", "import", str(path), "--bank", str(bank["id"])])
    assert again.exit_code == 1  # rejected c3 and nothing new imported
    assert "imported 0 items" in again.output and "already in bank" in again.output
    assert len(_items(app)) == 2


def test_import_refusals(app: Flask, bank: dict[str, Any], tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    only_bad = runner.invoke(args=["items", "import", str(_write(tmp_path, [BAD])), "--bank", str(bank["id"])])
    assert only_bad.exit_code == 1 and "rejected c3" in only_bad.output
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    failed = runner.invoke(args=["items", "import", str(broken), "--bank", str(bank["id"])])
    assert failed.exit_code == 1 and "not valid JSON" in failed.output and "broken.json" in failed.output
    good = str(_write(tmp_path, ITEMS))
    unknown = runner.invoke(args=["items", "import", good, "--bank", "Nope"])
    assert unknown.exit_code == 1 and "no item bank 'Nope'" in unknown.output
    for name in ("helper", "kid"):  # not shared with them
        refused = runner.invoke(args=["items", "import", good, "--bank", str(bank["id"]), "--as", name])
        assert refused.exit_code == 1 and f"'{name}' may not change bank" in refused.output
    with app.app_context():
        db.session.add(ItemBank(name="Physics 物理", subject_id=bank["subject"], owner_id=bank["owner"]))
        db.session.commit()
    ambiguous = runner.invoke(args=["items", "import", good, "--bank", "Physics 物理"])
    assert ambiguous.exit_code == 1 and "2 banks are named" in ambiguous.output
    unnamed = runner.invoke(args=["items", "import", good])
    assert (
        unnamed.exit_code == 1 and "give --bank" in unnamed.output and f"{bank['id']} 'Physics 物理'" in unnamed.output
    )
    assert _items(app) == []


def test_export_and_reimport(app: Flask, bank: dict[str, Any], tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    assert (
        runner.invoke(args=["items", "import", str(_write(tmp_path, ITEMS)), "--bank", str(bank["id"])]).exit_code == 0
    )
    out = tmp_path / "bank.csv"
    exported = runner.invoke(args=["items", "export", "--bank", str(bank["id"]), "--format", "csv", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    text = out.read_text(encoding="utf-8-sig")
    assert "c1" in text and "3 × 3 = ?" in text
    with app.app_context():
        copy = ItemBank(name="Copy", subject_id=bank["subject"], owner_id=bank["owner"])
        db.session.add(copy)
        db.session.commit()
        one = db.session.scalar(select(Item.id).where(Item.source_id == "c2"))
    back = runner.invoke(args=["items", "import", str(out), "--bank", "Copy"])
    assert back.exit_code == 0 and "imported 2 items" in back.output, back.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Item.id))) == 4
    single = tmp_path / "one.json"
    runner.invoke(
        args=[
            "items",
            "export",
            "--bank",
            str(bank["id"]),
            "--format",
            "json",
            "--out",
            str(single),
            "--item",
            str(one),
        ]
    )
    assert [entry["source_id"] for entry in json.loads(single.read_text(encoding="utf-8"))] == ["c2"]
    bad = runner.invoke(args=["items", "export", "--bank", str(bank["id"]), "--format", "pdf", "--out", str(out)])
    assert bad.exit_code == 2 and "pdf" in bad.output


def test_cli_formats_are_the_writers_formats() -> None:
    from itembank.formats.detect import FORMATS

    assert EXPORT_FORMATS == FORMATS
