"""A proctored sitting in a real browser with Chromium's fake camera: consent, enrolment and calibration
snapshots, exam snapshots and browser events all arrive through the outbox while the student answers."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from exam.auth.models import User
from exam.db import db
from proctor.models import BrowserEvent, Frame, ProctorSession

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_consent_camera_snapshots_and_events(
    app: Flask, live_server: str, browser: Any, exam_factory: Any, wait_for: Any
) -> None:
    ids = exam_factory(proctored=True)
    with app.app_context():
        username = db.session.get(User, ids["students"][0]).username
    context = browser.new_context(locale="en-US")
    context.grant_permissions(["camera"], origin=live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse")
    page.click("[data-testid=sign-in]")
    page.click("text=Start")
    page.wait_for_selector("#exam-main:not([hidden])")
    consent = page.locator("[data-testid=consent]")
    expect(consent).to_be_visible()
    consent.click()
    expect(page.locator("#proctor-status")).to_have_text("Proctoring is on.", timeout=15000)
    page.evaluate("document.dispatchEvent(new Event('copy'))")
    page.click("[data-testid=nav-1]")
    assert wait_for(lambda: db.session.query(Frame).filter_by(kind="calibration").count() == 5, timeout=30)
    assert wait_for(lambda: db.session.query(BrowserEvent).filter_by(type="copy").count() == 1, timeout=30)
    with app.app_context():
        record = db.session.query(ProctorSession).one()
        assert record.consented_at is not None and record.enrolment_frame_id is not None
        kinds = {f.kind for f in db.session.query(Frame).all()}
        assert {"enrolment", "calibration"} <= kinds
    assert not errors, errors
    context.close()
