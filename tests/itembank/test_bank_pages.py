"""Item bank: create, edit (new version once delivered), search, share, knowledge points, import/export."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exam.db import db
from itembank.models import Item, ItemBank, ItemVersion, KnowledgePoint, Subject


def _bank(app: Flask, client: FlaskClient) -> int:
    with app.app_context():
        subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
        db.session.add(subject)
        db.session.commit()
        subject_id = subject.id
    created = client.post("/banks/new", data={"name": "代数题库", "subject_id": subject_id})
    return int(re.search(r"/banks/(\d+)", created.headers["Location"]).group(1))


def test_write_edit_version_search(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _bank(app, client)
    client.post(f"/banks/{bank_id}/knowledge-points", data={"code": "1", "name_zh": "函数", "name_en": "Functions"})
    with app.app_context():
        parent = db.session.query(KnowledgePoint).one().id
    client.post(f"/banks/{bank_id}/knowledge-points", data={"code": "1.1", "name_zh": "一次函数", "parent_id": parent})
    with app.app_context():
        child = db.session.query(KnowledgePoint).filter_by(code="1.1").one().id
    bad = client.post(
        f"/banks/{bank_id}/items/new",
        data={"type": "single_choice", "stem": "2+2=?", "options": "A. 3\nB. 4", "key": "C"},
        follow_redirects=True,
    )
    assert "key: exactly one of the option labels (C)" in bad.get_data(as_text=True)
    made = client.post(
        f"/banks/{bank_id}/items/new",
        data={
            "type": "single_choice",
            "stem": "Solve \\(x+1=3\\)<script>alert(1)</script>",
            "options": "A. 1\nB. 2",
            "key": "B",
            "points": "2",
            "level": "2",
            "tags": "linear, 方程",
            "kp": [str(child)],
        },
    )
    item_id = int(re.search(r"/items/(\d+)", made.headers["Location"]).group(1))
    page = client.get(f"/banks/items/{item_id}").get_data(as_text=True)
    assert "<math" in page and "<script>alert" not in page
    client.post(
        f"/banks/{bank_id}/items/new",
        data={"type": "fill_blank", "stem": "中国的首都是____", "key": "北京|Beijing", "level": "1"},
    )
    # Search: by the parent knowledge point (descendants included), by tag, by type, by text.
    found = client.get(f"/banks/{bank_id}?kp={parent}").get_data(as_text=True)
    assert "Solve" in found and "首都" not in found
    assert "首都" in client.get(f"/banks/{bank_id}?q=首都").get_data(as_text=True)
    assert "Solve" in client.get(f"/banks/{bank_id}?tag=方程").get_data(as_text=True)
    assert "Solve" not in client.get(f"/banks/{bank_id}?type=fill_blank").get_data(as_text=True)
    # Edit before delivery: same version. Freeze it (as an exam does), edit again: a new version.
    client.post(f"/banks/items/{item_id}/edit", data={"stem": "Solve x+1=3", "options": "A. 1\nB. 2", "key": "B"})
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert len(item.versions) == 1 and item.current_version.stem == "Solve x+1=3"
        item.current_version.frozen = True
        db.session.commit()
    client.post(f"/banks/items/{item_id}/edit", data={"stem": "Solve x+2=4", "options": "A. 1\nB. 2", "key": "B"})
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert [v.number for v in item.versions] == [1, 2] and item.current_version.number == 2
        assert db.session.query(ItemVersion).filter_by(item_id=item_id, number=1).one().stem == "Solve x+1=3"


def test_sharing_and_permissions(app: Flask, client: FlaskClient, signed_in: Any, make_user: Any, login: Any) -> None:
    signed_in("owner", "examiner")
    bank_id = _bank(app, client)
    make_user("colleague", "examiner")
    make_user("stranger", "examiner")
    make_user("kid", "student")
    client.post(f"/banks/{bank_id}/share", data={"username": "colleague"})
    for username, status in (("stranger", 404), ("kid", 403)):
        client.post("/logout")
        login(client, username)
        assert client.get(f"/banks/{bank_id}").status_code == status
    client.post("/logout")
    login(client, "colleague")
    assert client.get(f"/banks/{bank_id}").status_code == 200
    assert client.get(f"/banks/{bank_id}/items/new").status_code == 404  # shared read-only


def test_import_preview_confirm_and_export(app: Flask, client: FlaskClient, signed_in: Any, tmp_path: Path) -> None:
    signed_in("teacher", "examiner")
    bank_id = _bank(app, client)
    items = [
        {
            "source_id": "q1",
            "type": "single_choice",
            "stem": "1+1?",
            "options": [{"key": "A", "text": "2"}, {"key": "B", "text": "3"}],
            "key": "A",
            "knowledge_points": ["1.2"],
        },
        {"source_id": "q2", "type": "true_false", "stem": "Zero is even.", "key": True},
        {
            "source_id": "q3",
            "type": "multiple_choice",
            "stem": "Primes",
            "options": [{"key": "A", "text": "2"}],
            "key": ["Z"],
        },
        {"source_id": "q4", "type": "hotspot", "stem": "Click"},
    ]
    data = json.dumps(items).encode()
    preview = client.post(
        f"/banks/{bank_id}/import", data={"file": (io.BytesIO(data), "items.json")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "2 items would be imported" in preview and "q3" in preview and "hotspot" in preview
    with app.app_context():
        assert db.session.query(Item).count() == 0  # the preview stores nothing
    token = re.search(r'name="token" value="([0-9a-f]+)"', preview).group(1)
    done = client.post(f"/banks/{bank_id}/import", data={"token": token}).get_data(as_text=True)
    assert "2 items imported" in done
    again = client.post(
        f"/banks/{bank_id}/import", data={"file": (io.BytesIO(data), "items.json")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "0 items would be imported" in again and "already in the bank" in again
    xlsx = client.get(f"/banks/{bank_id}/export?format=xlsx").data
    runner = app.test_cli_runner()
    path = tmp_path / "bank.xlsx"
    path.write_bytes(xlsx)
    with app.app_context():
        other = ItemBank(
            name="Copy",
            subject_id=db.session.get(ItemBank, bank_id).subject_id,
            owner_id=db.session.get(ItemBank, bank_id).owner_id,
        )
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    dry = runner.invoke(
        args=["items", "import", str(path), "--bank", str(other_id), "--dry-run", "--report", str(tmp_path / "r.json")]
    )
    assert dry.exit_code == 0, dry.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["imported"] == 2 and report["by_type"] == {"single_choice": 1, "true_false": 1}
    real = runner.invoke(args=["items", "import", str(path), "--bank", "Copy"])
    assert real.exit_code == 0 and "imported 2 items" in real.output
    out = runner.invoke(args=["items", "export", "--bank", "Copy", "--format", "csv", "--out", str(tmp_path / "o.csv")])
    assert out.exit_code == 0 and "q1" in (tmp_path / "o.csv").read_text(encoding="utf-8-sig")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    failed = runner.invoke(args=["items", "import", str(broken), "--bank", "Copy"])
    assert failed.exit_code == 1 and "not valid JSON" in failed.output
    with app.app_context():
        assert db.session.query(Item).count() == 4
