"""Admin: create accounts and import rosters (CSV in UTF-8 or GB18030, XLSX) with row-level errors; CLI too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook

from exam.auth.models import User
from exam.db import db


def _count(app: Flask) -> int:
    with app.app_context():
        return db.session.query(User).count()


def test_admin_creates_accounts_with_named_errors(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("root", "admin")
    ok = client.post(
        "/admin/users/new",
        data={"username": "t.wang", "display_name": "王老师", "role": "examiner", "password": "long enough pw"},
        follow_redirects=True,
    )
    assert "t.wang" in ok.get_data(as_text=True)
    bad = client.post(
        "/admin/users/new",
        data={"username": "x y", "display_name": "", "role": "wizard", "password": "short"},
        follow_redirects=True,
    ).get_data(as_text=True)
    for expected in ("username: use 2-80", "role: must be one of", "display_name: required", "password: at least 8"):
        assert expected in bad
    assert _count(app) == 2


def test_roster_import_csv_gb18030_and_xlsx(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("root", "admin")
    csv_gbk = "username,name,class\ns001,张三,高一(1)班\ns002,李四,高一(2)班\n".encode("gb18030")
    page = client.post(
        "/admin/roster", data={"file": (io.BytesIO(csv_gbk), "roster.csv")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert "张三" in page and "高一(1)班" in page
    with app.app_context():
        assert db.session.query(User).filter_by(username="s001").one().display_name == "张三"
    book = Workbook()
    book.active.append(["username", "name", "class", "password"])
    book.active.append(["s101", "Amy", "G10", "amy-secret-1"])
    book.active.append(["s001", "Dup", "G10", ""])
    book.active.append(["bad name", "Bob", "G10", "pw"])
    buffer = io.BytesIO()
    book.save(buffer)
    page = client.post(
        "/admin/roster",
        data={"file": (io.BytesIO(buffer.getvalue()), "roster.xlsx")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "row 3, username: already exists (s001)" in page
    assert "row 4, username: use 2-80" in page and "row 4, password: at least 8" in page
    assert _count(app) == 3  # root + s001 + s002: nothing from the bad file


def test_roster_cli_dry_run_and_passwords(app: Flask, tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("username,name\nkid1,Kid One\nkid2,Kid Two\n", encoding="utf-8-sig")
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["users", "import-roster", str(roster), "--dry-run"])
    assert dry.exit_code == 0 and "2 students would be created" in dry.output
    assert _count(app) == 0
    out = tmp_path / "passwords.csv"
    done = runner.invoke(args=["users", "import-roster", str(roster), "--passwords-out", str(out)])
    assert done.exit_code == 0, done.output
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "username,initial_password" and len(lines) == 3 and len(lines[1].split(",")[1]) == 10
    broken = tmp_path / "broken.csv"
    broken.write_text("name\nNobody\n")
    failed = runner.invoke(args=["users", "import-roster", str(broken)])
    assert failed.exit_code == 1 and "missing column 'username'" in failed.output
    assert _count(app) == 2


def test_only_admins_reach_admin_pages(client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    assert client.get("/admin/users").status_code == 403
    assert client.post("/admin/roster").status_code == 403
