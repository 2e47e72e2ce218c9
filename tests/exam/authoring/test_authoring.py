"""Examiner pages and services: create an exam, build the paper, roster with extra time, publish, results."""

from __future__ import annotations

import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook

from exam.db import db
from exam.delivery.models import Candidate, Exam, PaperItem
from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject


def _bank_with_items(app: Flask, owner_username: str) -> list[int]:
    from exam.auth.models import User

    with app.app_context():
        owner = db.session.query(User).filter_by(username=owner_username).one()
        subject = Subject(code="PHY", name_en="Physics", name_zh="物理")
        bank = ItemBank(name="Physics bank", subject=subject, owner_id=owner.id)
        db.session.add_all([subject, bank])
        ids = []
        for n in range(3):
            item = Item(bank=bank, type=ItemType.SINGLE_CHOICE, created_by_id=owner.id)
            version = ItemVersion(
                item=item,
                stem=f"Force question {n}",
                options=[{"key": "A", "text": "x"}, {"key": "B", "text": "y"}],
                key="A",
                points=2.0,
            )
            db.session.add_all([item, version])
            db.session.flush()
            item.current_version_id = version.id
            ids.append(item.id)
        db.session.commit()
        return ids


def _exam_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "title": "Physics quiz 物理小测",
        "description": "",
        "opens_at": "2026-01-01T08:00",
        "closes_at": "2036-01-01T10:00",
        "duration_minutes": "45",
        "multiple_choice_rule": "cn_partial",
        "results_policy": "manual",
        "shuffle_items": "y",
    }
    data.update(overrides)
    return data


def test_examiner_builds_publishes_and_exports(app: Flask, client: FlaskClient, signed_in: Any, make_user: Any) -> None:
    signed_in("teacher", "examiner")
    item_ids = _bank_with_items(app, "teacher")
    make_user("stu1", "student", class_name="一班")
    make_user("stu2", "student")
    created = client.post("/exams/new", data=_exam_form())
    assert created.status_code == 302, created.get_data(as_text=True)
    exam_url = created.headers["Location"]
    exam_id = int(re.search(r"/exams/(\d+)", exam_url).group(1))
    page = client.get(exam_url + "?q=Force").get_data(as_text=True)
    assert "Force question 2" in page
    client.post(f"/exams/{exam_id}/items", data={"item_id": [str(i) for i in item_ids[:2]]})
    client.post(f"/exams/{exam_id}/roster", data={"usernames": "stu1\nstu2, 15"})
    with app.app_context():
        exam = db.session.get(Exam, exam_id)
        assert [p.item_version.item_id for p in exam.paper_items] == item_ids[:2]
        assert sorted(c.extra_minutes for c in exam.candidates) == [0, 15]
        assert exam.multiple_choice_rule == "cn_partial" and exam.shuffle_items
    assert client.post(f"/exams/{exam_id}/publish").status_code == 302
    with app.app_context():
        exam = db.session.get(Exam, exam_id)
        assert exam.frozen_at is not None and all(p.item_version.frozen for p in exam.paper_items)
    # The paper is frozen: adding items is refused with a message and changes nothing.
    refused = client.post(f"/exams/{exam_id}/items", data={"item_id": [str(item_ids[2])]}, follow_redirects=True)
    assert "cannot change after publishing" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(PaperItem).filter_by(exam_id=exam_id).count() == 2
    csv_text = client.get(f"/exams/{exam_id}/results?format=csv").data.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("username,name,class,state") and "一班" in csv_text
    xlsx = client.get(f"/exams/{exam_id}/results?format=xlsx").data
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet.max_row == 3 and sheet.cell(1, 9).value == "Q1"


def test_bad_settings_and_rosters_are_named_and_store_nothing(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any
) -> None:
    signed_in("teacher", "examiner")
    bad = client.post("/exams/new", data=_exam_form(closes_at="2025-01-01T08:00"), follow_redirects=True)
    assert "closes_at: must be after the opening time" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Exam).count() == 0
    exam_id = int(re.search(r"/exams/(\d+)", client.post("/exams/new", data=_exam_form()).headers["Location"]).group(1))
    make_user("stu1", "student")
    make_user("colleague", "examiner")
    page = client.post(
        f"/exams/{exam_id}/roster", data={"usernames": "stu1\nghost\ncolleague\nstu1, soon"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "row 4, extra_minutes" in page
    page = client.post(
        f"/exams/{exam_id}/roster", data={"usernames": "stu1\nghost\ncolleague"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "row 2, username: no such user (ghost)" in page and "row 3, username: is not a student account" in page
    book = Workbook()
    book.active.append(["username", "extra_minutes"])
    book.active.append(["stu1", "abc"])
    buffer = io.BytesIO()
    book.save(buffer)
    page = client.post(
        f"/exams/{exam_id}/roster",
        data={"file": (io.BytesIO(buffer.getvalue()), "roster.xlsx")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "row 2, extra_minutes: a whole number of minutes (abc)" in page
    with app.app_context():
        assert db.session.query(Candidate).count() == 0
    published = client.post(f"/exams/{exam_id}/publish", follow_redirects=True).get_data(as_text=True)
    assert "paper: add at least one item" in published


def test_exam_pages_are_invisible_to_other_roles(
    app: Flask, client: FlaskClient, signed_in: Any, exam_factory: Any, login: Any, make_user: Any
) -> None:
    ids = exam_factory()
    for username, role in (("other", "examiner"), ("watcher", "proctor"), ("kid", "student")):
        client.post("/logout")
        signed_in(username, role)
        expected = 404 if role == "examiner" else 403
        assert client.get(f"/exams/{ids['exam']}").status_code == expected
        assert client.get(f"/exams/{ids['exam']}/results?format=csv").status_code == expected
        assert client.post(f"/exams/{ids['exam']}/publish").status_code == expected
