"""Assembly in the web app: bank rows -> forms preview -> frozen paper with form numbers; pages and permissions."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from exam.db import db


def test_preview_then_use_freezes_two_forms(app: Flask, bank_exam: dict[str, Any], two_forms_blueprint: str) -> None:
    from exam.delivery.models import Exam
    from itembank import assembly_service as svc

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        stored = svc.preview(db.session, exam, two_forms_blueprint)
        res = stored["result"]
        assert res["status"] in ("optimal", "feasible") and len(res["forms"]) == 2
        assert not set(res["forms"][0]["items"]) & set(res["forms"][1]["items"])
        lines = svc.supply(db.session, exam, two_forms_blueprint)
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


def test_preview_job_reports_the_best_paper_so_far(
    app: Flask, bank_exam: dict[str, Any], two_forms_blueprint: str
) -> None:
    from exam.delivery.models import Exam
    from exam.jobs import Job
    from itembank import assembly_service as svc

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        job = svc.start_preview(db.session, exam, two_forms_blueprint, bank_exam["owner"])
        assert exam.settings["assembly"] == {"spec": two_forms_blueprint, "job_id": job.id}
        assert db.session.get(Job, job.id).state == "queued"
        reports: list[tuple[int, int, dict[str, Any]]] = []
        out = svc.run_preview_job(db.session, exam, job.id, lambda *args: reports.append(args))
        assert out["result"]["status"] in ("optimal", "feasible") and out["job_id"] == job.id
        assert reports and all(total == 5 for _done, total, _detail in reports)
        detail = reports[-1][2]
        assert detail["objective"] is not None and detail["bound"] >= detail["objective"] - 1e-6
        assert exam.settings["assembly"]["result"] == out["result"]
        assert exam.settings["assembly"]["job_id"] == job.id


def test_a_blueprint_refused_when_the_job_runs_fails_the_job_with_every_problem(
    app: Flask, bank_exam: dict[str, Any], two_forms_blueprint: str
) -> None:
    from exam.db import utcnow
    from exam.delivery.models import Exam
    from exam.jobs import Job
    from itembank import assembly_service as svc
    from itembank.tasks import assemble_preview

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        job_id = svc.start_preview(db.session, exam, two_forms_blueprint, bank_exam["owner"]).id
        exam.frozen_at = utcnow()  # published while the job waited for a worker
        db.session.commit()
        assert assemble_preview(exam.id, job_id) == {"status": "invalid"}
        job = db.session.get(Job, job_id)
        assert job.state == "failed" and "The paper is frozen." in job.message
        assert "exam: a frozen paper cannot be reassembled" in job.message


def test_editor_shows_a_running_search_and_a_failed_one(
    app: Flask, client: Any, login: Any, bank_exam: dict[str, Any], two_forms_blueprint: str
) -> None:
    from exam.delivery.models import Exam
    from exam.jobs import create_job, finish_job, report_progress

    exam_id = bank_exam["exam"]
    with app.app_context():
        _sign_in_owner(client, login, bank_exam["owner"])
        job = create_job("assembly", {"exam_id": exam_id}, bank_exam["owner"])
        exam = db.session.get(Exam, exam_id)
        exam.settings = {"assembly": {"spec": two_forms_blueprint, "job_id": job.id}}
        db.session.commit()
        detail = {"stage": "improve", "objective": 13.8723, "bound": 13.9192, "gap": 0.0034}
        report_progress(job.id, 12, 60, None, detail)
        job_id = job.id
    page = client.get(f"/assembly/exams/{exam_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and 'data-testid="assembly-progress"' in page
    assert "13.8723" in page and "13.9192" in page and "0.34%" in page and "Use these forms" not in page
    with app.app_context():
        finish_job(job_id, error="The paper is frozen. exam: a frozen paper cannot be reassembled")
    page = client.get(f"/assembly/exams/{exam_id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "a frozen paper cannot be reassembled" in page


def test_pages_preview_curves_and_permissions(
    app: Flask,
    client: Any,
    login: Any,
    signed_in: Any,
    bank_exam: dict[str, Any],
    wait_for: Any,
    two_forms_blueprint: str,
) -> None:
    from exam.jobs import Job

    with app.app_context():
        _sign_in_owner(client, login, bank_exam["owner"])
    exam_id = bank_exam["exam"]
    assert client.get(f"/assembly/exams/{exam_id}").status_code == 200
    r = client.post(f"/assembly/exams/{exam_id}/lines", data={"spec": two_forms_blueprint})
    assert r.status_code == 200 and r.get_json()["lines"][0]["bank"] == 16
    r = client.post(f"/assembly/exams/{exam_id}/preview", data={"spec": two_forms_blueprint})
    assert r.status_code == 302
    assert wait_for(lambda: db.session.scalars(db.select(Job).where(Job.kind == "assembly")).one().state == "done")
    page = client.get(f"/assembly/exams/{exam_id}").get_data(as_text=True)
    assert page.count("<svg") == 2 and "Use these forms" in page
    assert client.post(f"/assembly/exams/{exam_id}/use").status_code == 302
    client.get("/logout")
    other = signed_in("other_examiner", "examiner")
    assert other.get(f"/assembly/exams/{exam_id}").status_code == 404
    client.get("/logout")
    student = signed_in("a_student", "student")
    assert student.get(f"/assembly/exams/{exam_id}").status_code in (403, 404)


def test_administered_items_count_against_exposure_limits(
    app: Flask, bank_exam: dict[str, Any], two_forms_blueprint: str
) -> None:
    """Freezing an exam records one use per item (once, whatever its forms); `max_uses` then keeps them out."""
    from exam.delivery.models import Exam
    from exam.delivery.services import freeze_exam
    from itembank import assembly_service as svc
    from itembank.models import Item

    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        svc.preview(db.session, exam, two_forms_blueprint)
        svc.use_forms(db.session, exam)
        freeze_exam(db.session, exam)
        freeze_exam(db.session, exam)  # already frozen: not counted twice
        db.session.commit()
        used = {p.item_version.item_id for p in exam.paper_items}
        rows = db.session.execute(db.select(Item.id, Item.exposure_count).where(Item.bank_id == exam.bank_id))
        counts = dict(rows.all())
        assert len(used) == 12 and all(counts[i] == (1 if i in used else 0) for i in counts)
        bank, _rows = svc.bank_from_db(db.session, exam.bank_id)
        assert {int(it.item_id) for it in bank.items if it.uses == 1} == used

        exam.frozen_at = None  # a second administration from the same bank, limited to items used at most once
        stored = svc.preview(
            db.session, exam, two_forms_blueprint.replace("time_limit: 5", "time_limit: 5\nmax_uses: 1")
        )
        chosen = {int(i) for f in stored["result"]["forms"] for i in f["items"]}
        assert stored["result"]["status"] in ("optimal", "feasible") and chosen and not chosen & used
