"""Assembly in the web app: bank rows -> forms preview -> frozen paper with form numbers; pages and permissions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from flask import Flask

from exam.db import db

SPEC = """forms: 2
length: 6
objective: maximin_info
thetas: [-1, 0, 1]
max_overlap: 0
constraints:
  - {attribute: type, value: single_choice, min: 2}
  - {attribute: level, value: "5", max: 2}
time_limit: 5
"""


@pytest.fixture
def bank_exam(app: Flask, exam_factory: Any) -> dict[str, Any]:
    """A not-yet-frozen exam whose bank holds 30 calibrated items besides the factory's five."""
    from itembank.models import Item, ItemType, ItemVersion

    ids = exam_factory(open_now=False)
    rng = np.random.default_rng(0)
    with app.app_context():
        for n in range(30):
            item = Item(
                bank_id=ids["bank"],
                type=ItemType.SINGLE_CHOICE if n % 2 else ItemType.TRUE_FALSE,
                level=1 + n % 5,
                irt_model="3pl",
                irt_a=float(rng.uniform(0.7, 2.0)),
                irt_b=float(rng.normal()),
                irt_c=0.2,
            )
            version = ItemVersion(item=item, number=1, stem=f"Q{n}", options=[], key=None, points=2.0)
            db.session.add_all([item, version])
            db.session.flush()
            item.current_version_id = version.id
        db.session.commit()
    return ids


def test_preview_then_use_freezes_two_forms(app: Flask, bank_exam: dict[str, Any]) -> None:
    from exam.delivery.models import Exam
    from itembank import assembly_service as svc

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        stored = svc.preview(db.session, exam, SPEC)
        res = stored["result"]
        assert res["status"] in ("optimal", "feasible") and len(res["forms"]) == 2
        assert not set(res["forms"][0]["items"]) & set(res["forms"][1]["items"])
        lines = svc.supply(db.session, exam, SPEC)
        assert lines[0]["bank"] == 16  # 15 new single-choice items + the factory's one
        n = svc.use_forms(db.session, exam)
        db.session.commit()
        exam = db.session.get(Exam, bank_exam["exam"])
        assert n == 12 and exam.form_numbers == [1, 2]
        assert exam.shuffle_items and exam.shuffle_options
        assert sorted(p.position for p in exam.paper_items if p.form_no == 2) == [1, 2, 3, 4, 5, 6]


def test_bad_blueprint_names_the_field_and_stores_nothing(app: Flask, bank_exam: dict[str, Any]) -> None:
    from exam.delivery.models import Exam
    from exam.validation import ValidationFailed
    from itembank import assembly_service as svc

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        with pytest.raises(ValidationFailed) as err:
            svc.preview(
                db.session, exam, "length: 5\nconstraints:\n  - {attribute: level, value: '5', min: 4, max: 1}\n"
            )
        assert err.value.problems[0]["field"] == "min"
        with pytest.raises(ValidationFailed):
            svc.use_forms(db.session, exam)
        assert "assembly" not in (exam.settings or {})


def _sign_in_owner(client: Any, login: Any, owner_id: int) -> None:
    from exam.auth.models import User

    username = db.session.get(User, owner_id).username
    assert login(client, username).status_code == 302


def test_pages_preview_curves_and_permissions(
    app: Flask, client: Any, login: Any, signed_in: Any, bank_exam: dict[str, Any]
) -> None:
    with app.app_context():
        _sign_in_owner(client, login, bank_exam["owner"])
    exam_id = bank_exam["exam"]
    assert client.get(f"/assembly/exams/{exam_id}").status_code == 200
    r = client.post(f"/assembly/exams/{exam_id}/lines", data={"spec": SPEC})
    assert r.status_code == 200 and r.get_json()["lines"][0]["bank"] == 16
    r = client.post(f"/assembly/exams/{exam_id}/preview", data={"spec": SPEC})
    assert r.status_code == 302
    page = client.get(f"/assembly/exams/{exam_id}").get_data(as_text=True)
    assert page.count("<svg") == 2 and "Use these forms" in page
    assert client.post(f"/assembly/exams/{exam_id}/use").status_code == 302
    client.get("/logout")
    other = signed_in("other_examiner", "examiner")
    assert other.get(f"/assembly/exams/{exam_id}").status_code == 404
    client.get("/logout")
    student = signed_in("a_student", "student")
    assert student.get(f"/assembly/exams/{exam_id}").status_code in (403, 404)
