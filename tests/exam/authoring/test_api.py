"""The examiner API: build, staff, publish and read results of an exam without the pages."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db
from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject


def test_exam_lifecycle_through_the_api(app: Flask, client: FlaskClient, signed_in: Any, make_user: Any) -> None:
    signed_in("teacher", "examiner")
    make_user("stu1", "student")
    make_user("watcher", "proctor")
    with app.app_context():
        owner = db.session.query(User).filter_by(username="teacher").one()
        bank = ItemBank(name="B", subject=Subject(code="S", name_en="S", name_zh="S"), owner_id=owner.id)
        item = Item(bank=bank, type=ItemType.TRUE_FALSE)
        version = ItemVersion(item=item, stem="1 > 0", key=True, points=3.0)
        db.session.add_all([bank, item, version])
        db.session.flush()
        item.current_version_id = version.id
        db.session.commit()
        item_id = item.id
    settings = {
        "title": "API exam",
        "opens_at": "2026-01-01T08:00:00+08:00",
        "closes_at": "2036-01-01T08:00:00+08:00",
        "duration_minutes": 20,
        "results_policy": "manual",
    }
    bad = client.post("/api/v1/exams", json={**settings, "closes_at": "2025-01-01T08:00:00+08:00"})
    assert bad.status_code == 422 and bad.get_json()["error"]["details"][0]["field"] == "closes_at"
    created = client.post("/api/v1/exams", json=settings)
    assert created.status_code == 201, created.get_data(as_text=True)
    exam_id = created.get_json()["id"]
    paper = client.post(f"/api/v1/exams/{exam_id}/items", json={"item_ids": [item_id]}).get_json()["paper"]
    assert paper[0]["item_id"] == item_id and paper[0]["points"] == 3.0
    refused = client.post(f"/api/v1/exams/{exam_id}/roster", json={"students": [{"username": "watcher"}]})
    assert refused.status_code == 422 and "not a student" in refused.get_data(as_text=True)
    roster = client.post(
        f"/api/v1/exams/{exam_id}/roster", json={"students": [{"username": "stu1", "extra_minutes": 10}]}
    )
    assert roster.get_json()["candidates"] == [{"username": "stu1", "extra_minutes": 10}]
    assert (
        client.post(f"/api/v1/exams/{exam_id}/staff", json={"username": "watcher", "role": "proctor"}).status_code
        == 204
    )
    published = client.post(f"/api/v1/exams/{exam_id}/publish").get_json()
    assert published["frozen_at"] is not None
    results = client.get(f"/api/v1/exams/{exam_id}/results").get_json()
    assert results["header"][:2] == ["username", "name"] and results["rows"][0][0] == "stu1"
    assert client.post(f"/api/v1/exams/{exam_id}/release").status_code == 204
    assert [e["id"] for e in client.get("/api/v1/exams").get_json()] == [exam_id]
    client.post("/logout")
    signed_in("other", "examiner")
    assert client.get(f"/api/v1/exams/{exam_id}").status_code == 404
