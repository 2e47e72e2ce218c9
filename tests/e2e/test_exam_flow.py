"""The whole flow in a real browser: an examiner builds and publishes an exam; a student sits it, reloads, loses
the network (answers queue, then arrive), submits and sees the score."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from exam.auth.models import User
from exam.db import db
from exam.delivery.models import Response, Sitting
from itembank.models import Item, ItemBank, ItemType, ItemVersion, Subject

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _bank(app: Flask, owner: str) -> None:
    with app.app_context():
        owner_id = db.session.query(User).filter_by(username=owner).one().id
        subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
        bank = ItemBank(name="Algebra 代数", subject=subject, owner_id=owner_id)
        db.session.add_all([subject, bank])
        specs = [
            (
                ItemType.SINGLE_CHOICE,
                "Solve x + 1 = 3. \\(x\\) = ?",
                [{"key": k, "text": t} for k, t in zip("ABCD", "1234", strict=True)],
                "B",
            ),
            (ItemType.FILL_BLANK, "Capital of China: ____", [], [{"accepted": ["北京", "Beijing"]}]),
            (ItemType.TRUE_FALSE, "Zero is an even number.", [], True),
        ]
        for item_type, stem, options, key in specs:
            item = Item(bank=bank, type=item_type, created_by_id=owner_id)
            version = ItemVersion(item=item, stem=stem, options=options, key=key, points=5.0)
            db.session.add_all([item, version])
            db.session.flush()
            item.current_version_id = version.id
        db.session.commit()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse")
    page.click("[data-testid=sign-in]")
    page.wait_for_load_state("networkidle")


def test_examiner_to_student_to_score(app: Flask, live_server: str, browser: Any, make_user: Any) -> None:
    make_user("teacher", "examiner")
    make_user("xiaoming", "student", name="小明")
    _bank(app, "teacher")

    staff = browser.new_context(locale="en-US")
    page = staff.new_page()
    _sign_in(page, live_server, "teacher")
    page.click("[data-testid=new-exam]")
    page.fill("[data-testid=title]", "Browser quiz")
    page.fill("[data-testid=opens_at]", "2026-01-01T00:00")
    page.fill("[data-testid=closes_at]", "2036-01-01T00:00")
    page.fill("[data-testid=duration_minutes]", "30")
    page.click("[data-testid=save-exam]")
    exam_url = page.url
    assert re.search(r"/exams/\d+$", exam_url), page.content()
    page.select_option("select[name=bank]", label="Algebra 代数")
    page.click("[data-testid=item-search] button[type=submit]")
    for box in page.locator("input[name=item_id]").all():
        box.check()
    page.click("[data-testid=add-items]")
    page.fill("[data-testid=roster-text]", "xiaoming")
    page.click("[data-testid=add-roster]")
    page.click("[data-testid=publish]")
    assert page.locator("[data-testid=published]").is_visible()
    staff.close()

    student = browser.new_context(locale="zh-CN")
    page = student.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    _sign_in(page, live_server, "xiaoming")
    page.click("text=开始考试")
    page.wait_for_selector("#exam-main:not([hidden])")
    status = page.locator("[data-testid=save-status]")
    assert "所有答案已保存" in status.inner_text()
    assert page.locator(".stem math").count() == 1  # LaTeX rendered as MathML

    def question(text: str) -> None:
        for n in range(1, 4):
            page.click(f"[data-testid=nav-{n}]")
            if text in page.locator("#exam-item .stem").inner_text():
                return
        raise AssertionError(f"no question containing {text!r}")

    question("Solve")
    page.check("#exam-item input[value=B]")
    question("Capital")
    page.fill("[data-testid=blank-1]", "北京")
    page.wait_for_timeout(700)  # the blank is saved after a short pause in typing
    expect(status).to_have_attribute("data-pending", "0")

    page.reload()
    page.wait_for_selector("#exam-main:not([hidden])")
    question("Solve")
    assert page.locator("#exam-item input[value=B]").is_checked()
    question("Capital")
    assert page.locator("[data-testid=blank-1]").input_value() == "北京"

    student.set_offline(True)
    question("Zero")
    page.check("#exam-item .answer-area label:first-child input")
    page.check("[data-testid=flag]")
    expect(status).to_have_class(re.compile("bad"))
    assert "网络已断开" in status.inner_text()
    with app.app_context():
        sitting = db.session.query(Sitting).one()
        tf_saved = [r for r in sitting.responses if r.answer is True]
        assert not tf_saved  # still only in the browser's outbox
    student.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(status).to_have_attribute("data-pending", "0", timeout=15000)

    page.click("#submit-btn")
    assert "所有题目均已作答" in page.locator("#summary-unanswered").inner_text()
    assert "已标记待检查" in page.locator("#summary-flagged").inner_text()
    page.click("#confirm-submit")
    page.wait_for_selector("[data-testid=score]")
    assert "15 / 15" in page.locator("[data-testid=score]").inner_text()
    assert not errors, errors
    with app.app_context():
        sitting = db.session.query(Sitting).one()
        assert sitting.state.value == "submitted" and sitting.score == 15.0
        answers = {r.item_version.item.type.value: r.answer for r in db.session.query(Response).all()}
        assert answers == {"single_choice": "B", "fill_blank": ["北京"], "true_false": True}
    student.close()
