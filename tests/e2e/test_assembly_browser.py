"""An examiner assembles two parallel forms in a real browser: live line counts, the background search, the
curves and content table, then "Use these forms" freezes them into the paper."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from exam.auth.models import User
from exam.db import db
from exam.delivery.models import Exam

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_examiner_assembles_and_uses_two_forms(
    app: Flask, live_server: str, browser: Any, bank_exam: Any, two_forms_blueprint: str
) -> None:
    with app.app_context():
        owner = db.session.get(User, bank_exam["owner"]).username
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", owner)
    page.fill("input[name=password]", "correct horse")
    page.click("[data-testid=sign-in]")
    page.goto(f"{live_server}/assembly/exams/{bank_exam['exam']}")
    page.fill("#spec", two_forms_blueprint)
    # the editor counts the bank's items for each line as the examiner types (16 single-choice, 6 at level 5)
    expect(page.locator("#assembly-lines tbody tr")).to_have_count(2)
    expect(page.locator("#assembly-lines tbody tr").first.locator("td").last).to_have_text("16")
    expect(page.locator("#assembly-lines tbody tr").nth(1).locator("td").last).to_have_text("6")
    page.get_by_role("button", name="组卷预览").click()
    # in-process or on a Celery worker: the page follows the job until the forms are there
    expect(page.locator(".assembly-curves svg")).to_have_count(2, timeout=30_000)
    assert "试卷 1" in page.content()
    page.get_by_role("button", name="使用这些试卷").click()
    expect(page.locator(".flash")).to_contain_text("12")
    with app.app_context():
        exam = db.session.get(Exam, bank_exam["exam"])
        assert exam.form_numbers == [1, 2] and len(exam.paper_items) == 12
    context.close()
