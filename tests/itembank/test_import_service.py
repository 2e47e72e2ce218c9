"""Import into the database: one transaction, dry run, rejections with reasons, no duplicates, knowledge points,
media files; export and re-import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from exam.auth.models import User
from exam.db import db
from exam.validation import ValidationFailed
from itembank import services
from itembank.formats.model import Asset, ImportResult, ItemDraft
from itembank.models import Item, ItemAsset, ItemBank, ItemVersion, KnowledgePoint, Subject

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 16


def _items() -> list[dict[str, Any]]:
    return [
        {
            "source_id": "q1",
            "type": "single_choice",
            "stem": "1 + 1 = ?",
            "options": [{"key": "A", "text": "2"}, {"key": "B", "text": "3"}],
            "key": "A",
            "knowledge_points": ["ALG/LIN"],
            "level": "easy",
            "tags": ["算术"],
        },
        {"source_id": "q2", "type": "true_false", "stem": "零是偶数。", "key": True, "knowledge_points": ["1.1"]},
        {
            "source_id": "q3",
            "type": "fill_blank",
            "stem": "The capital of France is ____.",
            "key": [{"accepted": ["Paris", "paris"]}],
            "points": 2,
        },
    ]


def _bad_row() -> dict[str, Any]:
    return {
        "source_id": "q4",
        "type": "multiple_choice",
        "stem": "Primes",
        "options": [{"key": "A", "text": "2"}, {"key": "B", "text": "4"}],
        "key": ["Z"],
    }


def _json(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items, ensure_ascii=False).encode()


@pytest.fixture
def setup(ctx: Any, make_user: Any) -> tuple[ItemBank, User]:
    owner = db.session.get(User, make_user("owner", "examiner"))
    subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
    db.session.add(subject)
    db.session.flush()
    services.add_knowledge_point(db.session, subject, "1.1", "Numbers", "数")
    bank = services.create_bank(db.session, owner, "Bank", subject.id)
    db.session.commit()
    return bank, owner


def _count(model: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_import_report_rejects_the_bad_row_and_creates_knowledge_points(setup: Any) -> None:
    bank, owner = setup
    data = _json([*_items(), _bad_row()])
    report = services.import_items(db.session, bank, owner, "items.json", data)
    db.session.commit()
    assert set(report) == {"imported", "by_type", "rejected", "warnings"}
    assert report["imported"] == 3
    assert report["by_type"] == {"single_choice": 1, "true_false": 1, "fill_blank": 1}
    assert len(report["rejected"]) == 1 and report["rejected"][0]["item"] == "q4"
    assert "key: one or more different option labels (value: ['Z'])" in report["rejected"][0]["reason"]
    assert any("'ALG/LIN'" in w and "created" in w for w in report["warnings"])
    json.loads(services.report_json(report))
    items = {i.source_id: i for i in db.session.scalars(select(Item))}
    assert set(items) == {"q1", "q2", "q3"}
    assert items["q1"].level == 1 and items["q1"].tags == ["算术"] and items["q1"].current_version.key == "A"
    assert items["q3"].current_version.points == 2.0
    # "ALG/LIN" is a path: ALG, then LIN under it; "1.1" already existed and was reused.
    lin = items["q1"].knowledge_points[0]
    assert lin.code == "ALG/LIN" and lin.name_en == "LIN" and lin.parent is not None and lin.parent.code == "ALG"
    assert [kp.code for kp in items["q2"].knowledge_points] == ["1.1"]
    assert _count(KnowledgePoint) == 3


def test_dry_run_writes_nothing(setup: Any) -> None:
    bank, owner = setup
    preview: list[dict[str, Any]] = []
    report = services.import_items(
        db.session, bank, owner, "items.json", _json(_items()), dry_run=True, preview=preview
    )
    db.session.commit()  # even a commit afterwards stores nothing
    assert report["imported"] == 3 and report["by_type"]["true_false"] == 1
    assert _count(Item) == 0 and _count(ItemVersion) == 0 and _count(KnowledgePoint) == 1
    assert [row["action"] for row in preview] == ["new", "new", "new"]
    assert preview[1]["stem"] == "零是偶数。" and preview[0]["knowledge_points"] == ["ALG/LIN"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.json", b'[{"source_id": "q1", ', "not valid JSON"),
        ("empty.json", b"", "empty"),
        ("items.exe", b"MZ\x90\x00", "unsupported"),
    ],
)
def test_a_broken_file_changes_nothing(setup: Any, name: str, data: bytes, message: str) -> None:
    bank, owner = setup
    with pytest.raises(ValidationFailed) as caught:
        services.import_items(db.session, bank, owner, name, data)
    assert message in str(caught.value) and name in str(caught.value)
    db.session.commit()
    assert _count(Item) == 0


def test_a_failure_midway_rolls_everything_back(setup: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bank, owner = setup
    db.session.commit()
    calls = {"n": 0}
    original = services._KnowledgePoints.get

    def flaky(self: Any, code: str) -> KnowledgePoint:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return original(self, code)

    monkeypatch.setattr(services._KnowledgePoints, "get", flaky)
    with pytest.raises(RuntimeError):
        services.import_items(db.session, bank, owner, "items.json", _json(_items()))
    db.session.commit()
    assert _count(Item) == 0 and _count(ItemVersion) == 0 and _count(KnowledgePoint) == 1


def test_reimport_does_not_duplicate_and_update_makes_a_new_version_once_frozen(setup: Any) -> None:
    bank, owner = setup
    data = _json(_items())
    services.import_items(db.session, bank, owner, "items.json", data)
    db.session.commit()
    again = services.import_items(db.session, bank, owner, "items.json", data)
    db.session.commit()
    assert again["imported"] == 0 and _count(Item) == 3
    assert sum("already in bank" in w for w in again["warnings"]) == 3
    # Freeze q1 as a delivered exam would, then import a corrected file with on_duplicate="update".
    q1 = db.session.scalar(select(Item).where(Item.source_id == "q1"))
    q1.current_version.frozen = True
    db.session.commit()
    changed = _items()
    changed[0]["stem"] = "1 + 1 = ? (corrected)"
    changed[1]["type"] = "single_choice"  # q2 changes type: refused, an item's type never changes
    changed[1]["options"] = [{"key": "A", "text": "yes"}, {"key": "B", "text": "no"}]
    changed[1]["key"] = "A"
    report = services.import_items(db.session, bank, owner, "items.json", _json(changed), on_duplicate="update")
    db.session.commit()
    assert report["imported"] == 2 and [r["item"] for r in report["rejected"]] == ["q2"]
    assert "already in bank as a true_false item" in report["rejected"][0]["reason"]
    db.session.refresh(q1)
    assert [v.number for v in q1.versions] == [1, 2] and q1.current_version.stem == "1 + 1 = ? (corrected)"
    assert q1.versions[0].stem == "1 + 1 = ?"
    q3 = db.session.scalar(select(Item).where(Item.source_id == "q3"))
    assert len(q3.versions) == 1  # not frozen: updated in place
    assert _count(Item) == 3


def test_duplicate_source_ids_inside_one_file(setup: Any) -> None:
    bank, owner = setup
    items = _items()
    items.append({**items[1], "stem": "other"})
    report = services.import_items(db.session, bank, owner, "items.json", _json(items))
    assert report["imported"] == 3
    assert report["rejected"] == [{"item": "q2", "reason": "the same source id appears earlier in the file"}]


def test_a_bad_level_is_rejected_with_its_value(setup: Any) -> None:
    bank, owner = setup
    items = _items()
    items[0]["level"] = "很难很难"
    report = services.import_items(db.session, bank, owner, "items.json", _json(items))
    assert report["rejected"][0]["item"] == "q1" and "'很难很难'" in report["rejected"][0]["reason"]


def test_media_files_are_stored_once_and_survive_export(
    app: Flask, setup: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bank, owner = setup
    drafts = [
        ItemDraft(
            source_id=f"img{n}",
            type="true_false",
            stem=f'<p>Is this a dot? <img src="asset:dot.png" alt="dot"> {n}</p>',
            key=True,
            assets={"dot.png": Asset(data=PNG, mime="image/png")},
        )
        for n in range(2)
    ]
    monkeypatch.setattr("itembank.formats.detect.read_items", lambda filename, data: ImportResult(drafts=list(drafts)))
    dry = services.import_items(db.session, bank, owner, "quiz.zip", b"zip", dry_run=True, storage_dir=tmp_path)
    assert dry["imported"] == 2 and not (tmp_path / "assets").exists() and _count(ItemAsset) == 0
    services.import_items(db.session, bank, owner, "quiz.zip", b"zip", storage_dir=tmp_path)
    db.session.commit()
    assets = list(db.session.scalars(select(ItemAsset).order_by(ItemAsset.id)))
    assert len(assets) == 2 and assets[0].sha256 == assets[1].sha256 and assets[0].mime == "image/png"
    stored = list((tmp_path / "assets").rglob("*"))
    assert [p.read_bytes() for p in stored if p.is_file()] == [PNG]  # identical bytes are stored once
    item = db.session.get(Item, assets[0].item_id)
    assert f'src="/banks/assets/{assets[0].id}/dot.png"' in item.current_version.stem
    exported = services.drafts_of(db.session, bank, storage_dir=tmp_path)
    assert 'src="asset:dot.png"' in exported[0].stem and exported[0].assets["dot.png"].data == PNG


def test_export_and_reimport_round_trip(setup: Any) -> None:
    bank, owner = setup
    services.import_items(db.session, bank, owner, "items.json", _json(_items()))
    db.session.commit()
    copy = services.create_bank(db.session, owner, "Copy", bank.subject_id)
    for fmt in ("csv", "xlsx", "json"):  # the last one for real
        data = services.export_items(db.session, bank, fmt)
        report = services.import_items(db.session, copy, owner, f"bank.{fmt}", data, dry_run=fmt != "json")
        assert report["imported"] == 3 and not report["rejected"], (fmt, report)
    db.session.commit()

    def content(b: ItemBank) -> list[tuple[Any, ...]]:
        items = db.session.scalars(select(Item).where(Item.bank_id == b.id).order_by(Item.source_id))
        return [
            (
                i.source_id, i.type, i.level, i.tags, [kp.code for kp in i.knowledge_points], i.current_version.stem,
                i.current_version.options, i.current_version.key, i.current_version.points,
            )
            for i in items
        ]  # fmt: skip

    assert content(copy) == content(bank)
    selected = db.session.scalar(select(Item.id).where(Item.bank_id == bank.id, Item.source_id == "q2"))
    only = json.loads(services.export_items(db.session, bank, "json", [selected]))
    assert [entry["source_id"] for entry in only] == ["q2"]
    with pytest.raises(ValidationFailed) as caught:
        services.export_items(db.session, bank, "pdf")
    assert caught.value.problems[0]["value"] == "pdf"


def test_long_category_paths_fit_the_code_column_and_are_found_again(setup: Any) -> None:
    bank, owner = setup
    deep = (
        "$course$/Default for 高一数学 Mathematics Grade 10/Chapter 3 Quadratic functions and their graphs/3.2 Vertex"
    )
    items = [{"source_id": "d1", "type": "true_false", "stem": "Deep?", "key": True, "knowledge_points": [deep]}]
    first = services.import_items(db.session, bank, owner, "items.json", _json(items))
    db.session.commit()
    assert first["imported"] == 1
    item = db.session.scalar(select(Item).where(Item.source_id == "d1"))
    leaf = item.knowledge_points[0]
    assert len(leaf.code) <= 60 and leaf.code == services.kp_code(deep) and leaf.name_en == "3.2 Vertex"
    assert [kp.name_en for kp in leaf.ancestors_and_self()][:2] == [
        "$course$",
        "Default for 高一数学 Mathematics Grade 10",
    ]
    created = _count(KnowledgePoint)
    items[0]["source_id"] = "d2"
    again = services.import_items(db.session, bank, owner, "items.json", _json(items))
    db.session.commit()
    assert again["imported"] == 1 and _count(KnowledgePoint) == created
    assert not any("has been created" in w for w in again["warnings"])
