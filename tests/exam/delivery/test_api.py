"""The student JSON API through real HTTP requests: CSRF, permissions, idempotent saves, take-over, submit."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from exam.auth.models import User
from exam.db import db
from exam.delivery.models import Response, Sitting


def _student_client(app: Flask, client: FlaskClient, login: Any, user_id: int) -> FlaskClient:
    with app.app_context():
        username = db.session.get(User, user_id).username
    assert login(client, username).status_code == 302
    return client


def _start(client: FlaskClient, exam_id: int) -> dict[str, Any]:
    response = client.post(f"/api/v1/exams/{exam_id}/start")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


TAB = "tab-aaaaaaaa"


def test_full_flow_through_the_api(app: Flask, client: FlaskClient, login: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    _student_client(app, client, login, ids["students"][0])
    exams = client.get("/api/v1/my/exams").get_json()
    assert [e["id"] for e in exams] == [ids["exam"]] and exams[0]["is_open"]
    state = _start(client, ids["exam"])
    assert _start(client, ids["exam"])["sitting_id"] == state["sitting_id"]  # starting twice resumes
    assert all("key" not in item for item in state["items"]) and "Beijing" not in repr(state)
    sid = state["sitting_id"]
    assert client.post(f"/api/v1/sittings/{sid}/claim", json={"tab": TAB}).status_code == 200
    pid = ids["paper"]["single_choice"]
    save = {"op_id": "op-00000001", "paper_item_id": pid, "answer": "B", "seq": 1, "tab": TAB}
    first = client.post(f"/api/v1/sittings/{sid}/answers", json=save)
    assert first.status_code == 200 and first.get_json()["applied"] is True
    # The same op resent (a retry after a lost acknowledgement) is answered, not applied twice.
    again = client.post(f"/api/v1/sittings/{sid}/answers", json={**save, "answer": "C"})
    assert again.get_json()["saved_at"] == first.get_json()["saved_at"]
    fill = ids["paper"]["fill_blank"]
    client.post(
        f"/api/v1/sittings/{sid}/answers",
        json={"op_id": "op-00000002", "paper_item_id": fill, "answer": ["北京"], "seq": 1, "tab": TAB, "flagged": True},
    )
    assert client.post(f"/api/v1/sittings/{sid}/position", json={"position": 3, "tab": TAB}).status_code == 204
    resumed = client.get(f"/api/v1/sittings/{sid}").get_json()
    assert resumed["position"] == 3
    assert resumed["answers"][str(pid)]["answer"] == "B"
    assert resumed["answers"][str(fill)] == {**resumed["answers"][str(fill)], "answer": ["北京"], "flagged": True}
    result = client.post(f"/api/v1/sittings/{sid}/submit").get_json()
    assert result["state"] == "submitted" and result["visible"] and result["score"] == 4.0
    late = client.post(f"/api/v1/sittings/{sid}/answers", json={**save, "op_id": "op-00000003", "seq": 2})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "submitted"
    with app.app_context():
        stored = db.session.query(Response).filter_by(sitting_id=sid, paper_item_id=pid).one()
        assert stored.answer == "B" and stored.score == 2.0


def test_second_tab_is_refused_until_it_takes_over(
    app: Flask, client: FlaskClient, login: Any, exam_factory: Any
) -> None:
    ids = exam_factory()
    _student_client(app, client, login, ids["students"][0])
    sid = _start(client, ids["exam"])["sitting_id"]
    assert client.post(f"/api/v1/sittings/{sid}/claim", json={"tab": TAB}).status_code == 200
    other = client.post(f"/api/v1/sittings/{sid}/claim", json={"tab": "tab-bbbbbbbb"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "other_tab"
    taken = client.post(f"/api/v1/sittings/{sid}/claim", json={"tab": "tab-bbbbbbbb", "force": True})
    assert taken.status_code == 200 and taken.get_json()["displaced_other_tab"] is True
    # The displaced tab's next save is refused with the code its page turns into the take-over dialog.
    save = {"op_id": "op-0000000x", "paper_item_id": ids["paper"]["true_false"], "answer": True, "seq": 1, "tab": TAB}
    refused = client.post(f"/api/v1/sittings/{sid}/answers", json=save)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "other_tab"


def test_bad_input_is_named_and_nothing_is_stored(
    app: Flask, client: FlaskClient, login: Any, exam_factory: Any
) -> None:
    ids = exam_factory()
    _student_client(app, client, login, ids["students"][0])
    sid = _start(client, ids["exam"])["sitting_id"]
    missing = client.post(f"/api/v1/sittings/{sid}/answers", json={"paper_item_id": 1, "tab": TAB})
    body = missing.get_json()["error"]
    assert missing.status_code == 422 and {"op_id", "seq"} <= set(body["details"]["json"])
    wrong_shape = client.post(
        f"/api/v1/sittings/{sid}/answers",
        json={
            "op_id": "op-0000000y",
            "paper_item_id": ids["paper"]["multiple_choice"],
            "answer": "Z",
            "seq": 1,
            "tab": TAB,
        },
    )
    assert wrong_shape.status_code == 422 and wrong_shape.get_json()["error"]["code"] == "bad_answer"
    with app.app_context():
        assert db.session.query(Response).filter_by(sitting_id=sid).count() == 0


def test_csrf_is_required_on_json_writes(app: Flask, client: FlaskClient, login: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    _student_client(app, client, login, ids["students"][0])
    response = client.post(f"/api/v1/exams/{ids['exam']}/start", no_csrf=True)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "csrf"
    with app.app_context():
        assert db.session.query(Sitting).count() == 0


def test_students_reach_only_their_own_sittings(
    app: Flask, client: FlaskClient, login: Any, exam_factory: Any, make_user: Any, signed_in: Any
) -> None:
    ids = exam_factory(students=2)
    _student_client(app, client, login, ids["students"][0])
    sid = _start(client, ids["exam"])["sitting_id"]
    client.post("/logout")
    _student_client(app, client, login, ids["students"][1])
    assert client.get(f"/api/v1/sittings/{sid}").status_code == 404
    assert client.post(f"/api/v1/sittings/{sid}/submit").status_code == 404
    outsider = make_user("outsider", "student")
    client.post("/logout")
    _student_client(app, client, login, outsider)
    assert client.post(f"/api/v1/exams/{ids['exam']}/start").status_code == 404
    client.post("/logout")
    staff = signed_in("teacher", "examiner")
    assert staff.get(f"/api/v1/sittings/{sid}").status_code == 403
    client.post("/logout")
    assert client.get(f"/api/v1/sittings/{sid}").status_code == 401


def test_openapi_document_lists_the_delivery_api(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["info"]["title"]
    for path in ("/api/v1/exams/{exam_id}/start", "/api/v1/sittings/{sitting_id}/answers", "/api/v1/my/exams"):
        assert path in spec["paths"]
    assert "AnswerSchema" in str(spec["components"]) or "Answer" in str(spec["components"])


def test_student_pages_render(app: Flask, client: FlaskClient, login: Any, exam_factory: Any) -> None:
    ids = exam_factory()
    _student_client(app, client, login, ids["students"][0])
    page = client.get("/my/exams").get_data(as_text=True)
    assert "Unit test" in page and "Start" in page
    started = client.post(f"/my/exams/{ids['exam']}/start")
    assert started.status_code == 302
    exam_page = client.get(started.headers["Location"])
    html = exam_page.get_data(as_text=True)
    assert exam_page.status_code == 200 and 'id="exam-root"' in html and "exam-strings" in html
    assert "<script>" not in html  # CSP: no inline scripts
