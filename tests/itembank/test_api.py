"""The item bank API: banks, sharing, search, create and edit with versions, import with a dry run."""

from __future__ import annotations

import io
import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exam.db import db
from itembank.models import Item, Subject


def test_bank_api(app: Flask, client: FlaskClient, signed_in: Any, make_user: Any) -> None:
    signed_in("teacher", "examiner")
    make_user("colleague", "examiner")
    with app.app_context():
        subject = Subject(code="PHY", name_en="Physics", name_zh="物理")
        db.session.add(subject)
        db.session.commit()
        subject_id = subject.id
    bank = client.post("/api/v1/banks", json={"name": "力学", "subject_id": subject_id})
    assert bank.status_code == 201, bank.get_data(as_text=True)
    bank_id = bank.get_json()["id"]
    bad = client.post(
        f"/api/v1/banks/{bank_id}/items",
        json={"type": "single_choice", "stem": "F = ?", "options": [{"key": "A", "text": "ma"}], "key": "Z"},
    )
    assert bad.status_code == 422 and "key" in bad.get_data(as_text=True)
    made = client.post(
        f"/api/v1/banks/{bank_id}/items",
        json={
            "type": "single_choice",
            "stem": "F = ?",
            "options": [{"key": "A", "text": "ma"}, {"key": "B", "text": "mv"}],
            "key": "A",
            "tags": ["牛顿"],
        },
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    item_id = made.get_json()["id"]
    found = client.get(f"/api/v1/banks/{bank_id}/items?tag=牛顿").get_json()
    assert found["total"] == 1 and found["items"][0]["key"] == "A"
    with app.app_context():
        db.session.get(Item, item_id).current_version.frozen = True
        db.session.commit()
    edited = client.put(
        f"/api/v1/items/{item_id}",
        json={
            "type": "single_choice",
            "stem": "F equals?",
            "options": [{"key": "A", "text": "ma"}, {"key": "B", "text": "mv"}],
            "key": "A",
        },
    )
    assert edited.get_json()["version"] == 2
    dry = client.post(
        f"/api/v1/banks/{bank_id}/import",
        data={
            "dry_run": "1",
            "file": (
                io.BytesIO(
                    json.dumps([{"source_id": "x1", "type": "true_false", "stem": "Yes?", "key": True}]).encode()
                ),
                "items.json",
            ),
        },
        content_type="multipart/form-data",
    )
    assert dry.status_code == 200 and dry.get_json()["imported"] == 1
    assert client.get(f"/api/v1/banks/{bank_id}/items").get_json()["total"] == 1  # the dry run stored nothing
    assert client.post(f"/api/v1/banks/{bank_id}/shares", json={"username": "colleague"}).status_code == 204
    client.post("/logout")
    signed_in("stranger", "examiner")
    assert client.get(f"/api/v1/banks/{bank_id}/items").status_code == 404
    assert client.get(f"/api/v1/items/{item_id}").status_code == 404
