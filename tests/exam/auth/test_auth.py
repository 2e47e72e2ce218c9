"""Sign-in, CSRF, rate limiting, security headers, language choice."""

from __future__ import annotations

from typing import Any

from flask import Flask

from exam.auth.models import Role, User
from exam.auth.passwords import hash_password, verify_password
from exam.db import db


def test_passwords_are_argon2_and_verify() -> None:
    stored = hash_password("s3cret-pass")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret-pass")
    assert not verify_password(stored, "wrong")
    assert not verify_password("not-a-hash", "anything")


def test_sign_in_redirects_each_role_home(client: Any, make_user: Any, login: Any) -> None:
    make_user("stu", "student")
    response = login(client, "stu")
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/exams")
    assert client.get("/my/exams").status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(client: Any, make_user: Any, login: Any) -> None:
    make_user("exa", "examiner")
    wrong = login(client, "exa", "nope-nope")
    unknown = login(client, "ghost", "nope-nope")
    assert wrong.status_code == unknown.status_code == 200
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert "Wrong username or password." in unknown.get_data(as_text=True)


def test_inactive_users_cannot_sign_in(app: Flask, client: Any, make_user: Any, login: Any) -> None:
    uid = make_user("gone", "student")
    with app.app_context():
        db.session.get(User, uid).active = False
        db.session.commit()
    assert login(client, "gone").status_code == 200
    assert client.get("/my/exams").status_code == 302  # back to sign-in


def test_post_without_csrf_token_is_refused(client: Any, make_user: Any) -> None:
    make_user("alice", "student")
    response = client.post("/login", data={"username": "alice", "password": "correct horse"}, no_csrf=True)
    assert response.status_code == 400
    assert client.get("/my/exams").status_code == 302


def test_login_is_rate_limited(client: Any, make_user: Any, login: Any) -> None:
    make_user("bob", "student")
    codes = [login(client, "bob", "bad-password").status_code for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_no_open_redirect_after_sign_in(client: Any, make_user: Any) -> None:
    make_user("carol", "student")
    response = client.post(
        "/login?next=https://evil.example/x", data={"username": "carol", "password": "correct horse"}
    )
    assert response.headers["Location"].endswith("/my/exams")


def test_security_headers_and_cookie_flags(client: Any, make_user: Any, login: Any) -> None:
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    make_user("dan", "student")
    response = login(client, "dan")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_roles_are_enforced_on_pages(client: Any, make_user: Any, login: Any) -> None:
    make_user("s1", "student")
    login(client, "s1")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/banks/").status_code == 403
    assert client.get("/exams/").status_code == 403


def test_admin_holds_staff_roles_but_is_not_a_student(app: Flask, make_user: Any) -> None:
    with app.app_context():
        admin = db.session.get(User, make_user("root", "admin"))
        assert admin.has_role(Role.EXAMINER) and admin.has_role(Role.PROCTOR)
        assert not admin.has_role(Role.STUDENT)


def test_language_follows_browser_and_switch_sticks(client: Any) -> None:
    zh = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert 'lang="zh-CN"' in zh and "登录" in zh and "用户名" in zh
    en = client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert 'lang="en"' in en and "Sign in" in en
    client.post("/language/zh_CN", data={"next": "/login"})
    assert 'lang="zh-CN"' in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
