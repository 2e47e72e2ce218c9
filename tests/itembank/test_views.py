"""Item bank pages: banks and sharing, permissions per role, item forms per type, versions, knowledge points,
import preview and confirm, export, media."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exam.db import db
from itembank.models import Item, ItemAsset, ItemBank, KnowledgePoint, Subject


def _subject(app: Flask) -> int:
    with app.app_context():
        subject = Subject(code="MATH", name_en="Mathematics", name_zh="数学")
        db.session.add(subject)
        db.session.commit()
        return subject.id


def _new_bank(app: Flask, client: FlaskClient) -> int:
    created = client.post("/banks/new", data={"name": "代数题库", "subject_id": _subject(app)})
    assert created.status_code == 302, created.get_data(as_text=True)
    return int(re.search(r"/banks/(\d+)", created.headers["Location"]).group(1))


def _new_item(client: FlaskClient, bank_id: int, **data: Any) -> Any:
    return client.post(f"/banks/{bank_id}/items/new", data=data)


def _item_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/items/(\d+)", response.headers["Location"]).group(1))


def _count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count(Item.id))) or 0)


def test_create_bank_and_errors_name_the_field(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    page = client.get("/banks/").get_data(as_text=True)
    assert "代数题库" in page and f"/banks/{bank_id}" in page
    refused = client.post("/banks/new", data={"name": "", "subject_id": "999"}, follow_redirects=True)
    text = refused.get_data(as_text=True)
    assert "subject: no such subject (999)" in text
    with app.app_context():
        assert db.session.scalar(select(func.count(ItemBank.id))) == 1


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"type": "single_choice", "options": "A. 3\nB．4\nC、5", "key": "b"}, "B"),
        ({"type": "multiple_choice", "options": "A. 2\nB. 3\nC. 4", "key": "AB"}, ["A", "B"]),
        ({"type": "multiple_choice", "options": "A. 2\nB. 3\nC. 4", "key": "A, C"}, ["A", "C"]),
        ({"type": "true_false", "key": "错"}, False),
        (
            {"type": "fill_blank", "stem": "____ 与 ____", "key": "北京|Beijing\n上海"},
            [
                {"accepted": ["北京", "Beijing"]},
                {"accepted": ["上海"]},
            ],
        ),
        (
            {"type": "numerical", "value": "9.8", "tolerance": "0.1", "units": "m/s^2, m·s⁻²"},
            {
                "value": 9.8,
                "tolerance": 0.1,
                "units": ["m/s^2", "m·s⁻²"],
            },
        ),
        ({"type": "matching", "options": "1. cat\n2. dog\n---\na. 猫\nb. 狗", "key": "1=a\n2=b"}, {"1": "a", "2": "b"}),
        ({"type": "ordering", "options": "A. one\nB. two\nC. three", "key": "C,A,B"}, ["C", "A", "B"]),
        (
            {"type": "short_answer", "key": "Light energy to chemical energy.", "rubric": "2 points"},
            {
                "reference": "Light energy to chemical energy.",
            },
        ),
        ({"type": "essay", "key": ""}, None),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) and "type" in value else "",
)
def test_item_form_per_type(app: Flask, client: FlaskClient, signed_in: Any, data: dict[str, Any], key: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    form = {"stem": "Question?", "points": "2", "seconds": "90", "level": "4", "tags": "期中, unit 1"} | data
    item_id = _item_id(_new_item(client, bank_id, **form))
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert item.type.value == data["type"] and item.current_version.key == key
        assert item.current_version.points == 2.0 and item.current_version.seconds == 90 and item.level == 4
        assert item.tags == ["期中", "unit 1"]
        if data["type"] == "matching":
            assert [o["side"] for o in item.current_version.options] == ["left", "left", "right", "right"]
        if "rubric" in data:
            assert item.current_version.settings == {"rubric": "2 points"}
    # The edit form shows the same values back: saving it unchanged keeps the content.
    edit = client.get(f"/banks/items/{item_id}/edit").get_data(as_text=True)
    assert client.post(f"/banks/items/{item_id}/edit", data=_form_fields(edit)).status_code == 302
    with app.app_context():
        item = db.session.get(Item, item_id)
        assert item.current_version.key == key and len(item.versions) == 1 and item.tags == ["期中", "unit 1"]
        assert item.current_version.stem == form["stem"]


def _form_fields(page: str) -> dict[str, Any]:
    """What a browser would submit from the item form as rendered."""
    form = page[page.index('data-testid="item-form"') :]
    fields: dict[str, Any] = {
        name: html.unescape(value)
        for name, value in re.findall(r'<textarea name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S)
    }
    for tag in re.findall(r"<input [^>]*>", form):
        name = re.search(r'name="(\w+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or name.group(1) == "csrf_token" or ('type="checkbox"' in tag and "checked" not in tag):
            continue
        fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    fields["kp"] = re.findall(r'<option value="(\d+)" selected>', form)
    return fields


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "single_choice", "options": "A. 3\nB. 4", "key": "C"}, "key: exactly one of the option labels (C)"),
        ({"type": "numerical", "value": "abc"}, "key: a number"),
        ({"type": "fill_blank", "stem": "Question? ____ ____", "key": "x"}, "the stem has 2 blanks"),
        ({"type": "single_choice", "options": "A. 3\nB. 4", "key": "A", "points": "many"}, "points: a number"),
        ({"type": "matching", "options": "1. a\n---\nx. b", "key": "1 x"}, "key: pairs of a left option label"),
    ],
)
def test_form_errors_name_field_and_value_and_store_nothing(
    app: Flask, client: FlaskClient, signed_in: Any, data: dict[str, Any], message: str
) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    response = _new_item(client, bank_id, **({"stem": "Question?"} | data))
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and message in text
    assert "Question?" in text  # what was typed is kept in the form
    assert _count(app) == 0


def test_item_page_math_versions_retire(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    item_id = _item_id(
        _new_item(
            client,
            bank_id,
            type="single_choice",
            stem="Solve \\(x^2=4\\)<script>alert(1)</script>",
            options="A. 1\nB. 2",
            key="B",
        )
    )
    page = client.get(f"/banks/items/{item_id}").get_data(as_text=True)
    assert "<math" in page and "<script>alert" not in page and "v1" in page
    with app.app_context():
        item = db.session.get(Item, item_id)
        item.current_version.frozen = True  # as a delivered exam does
        db.session.commit()
    edit = client.get(f"/banks/items/{item_id}/edit").get_data(as_text=True)
    assert "saving creates a new version" in edit
    saved = client.post(
        f"/banks/items/{item_id}/edit", data={"stem": "Solve x+2=4", "options": "A. 1\nB. 2", "key": "B"}
    )
    assert saved.status_code == 302
    page = client.get(f"/banks/items/{item_id}").get_data(as_text=True)
    assert "Solve x+2=4" in page and "v2" in page and "v1" in page
    old = client.get(f"/banks/items/{item_id}?version=1").get_data(as_text=True)
    shown = old.split('data-testid="versions"')[0]
    assert "You are looking at version 1" in shown and "<math" in shown and "Solve x+2=4" not in shown
    assert client.get(f"/banks/items/{item_id}?version=7").status_code == 404
    client.post(f"/banks/items/{item_id}/status", data={"status": "retired"})
    assert f'/banks/items/{item_id}"' not in client.get(f"/banks/{bank_id}").get_data(as_text=True)
    assert f'/banks/items/{item_id}"' in client.get(f"/banks/{bank_id}?status=retired").get_data(as_text=True)
    client.post(f"/banks/items/{item_id}/status", data={"status": "active"})
    assert f'/banks/items/{item_id}"' in client.get(f"/banks/{bank_id}").get_data(as_text=True)


def test_search_page_filters_and_pages(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    client.post(f"/banks/{bank_id}/knowledge-points", data={"code": "1", "name_zh": "函数", "name_en": "Functions"})
    with app.app_context():
        parent = db.session.scalar(select(KnowledgePoint.id))
    client.post(f"/banks/{bank_id}/knowledge-points", data={"code": "1.1", "name_zh": "一次函数", "parent_id": parent})
    tree = client.get(f"/banks/{bank_id}/knowledge-points").get_data(as_text=True)
    assert tree.index("函数") < tree.index("一次函数")
    with app.app_context():
        child = db.session.scalar(select(KnowledgePoint.id).where(KnowledgePoint.code == "1.1"))
    _new_item(client, bank_id, type="true_false", stem="Linear f is straight", key="true", kp=str(child), tags="图像")
    _new_item(client, bank_id, type="fill_blank", stem="中国的首都是____", key="北京", level="1")
    assert "Linear f" in client.get(f"/banks/{bank_id}?kp={parent}").get_data(as_text=True)
    assert "首都" not in client.get(f"/banks/{bank_id}?kp={parent}").get_data(as_text=True)
    assert "首都" in client.get(f"/banks/{bank_id}?q=首都").get_data(as_text=True)
    assert "Linear f" in client.get(f"/banks/{bank_id}?tag=图像").get_data(as_text=True)
    assert "Linear f" not in client.get(f"/banks/{bank_id}?type=fill_blank").get_data(as_text=True)
    assert "首都" in client.get(f"/banks/{bank_id}?level=1").get_data(as_text=True)
    for n in range(51):
        _new_item(client, bank_id, type="true_false", stem=f"filler {n}", key="true")
    first = client.get(f"/banks/{bank_id}?q=filler").get_data(as_text=True)
    assert "51 items" in first and "Page 1 of 2" in first and "page=2" in first
    second = client.get(f"/banks/{bank_id}?q=filler&page=2").get_data(as_text=True)
    assert "filler 0<" in second and "filler 50<" not in second


def test_permissions_per_role(app: Flask, client: FlaskClient, signed_in: Any, make_user: Any, login: Any) -> None:
    signed_in("owner", "examiner")
    bank_id = _new_bank(app, client)
    item_id = _item_id(_new_item(client, bank_id, type="true_false", stem="Q", key="true"))
    for name, role in (("reader", "examiner"), ("editor", "examiner"), ("stranger", "examiner")):
        make_user(name, role)
    make_user("kid", "student")
    make_user("watcher", "proctor")
    client.post(f"/banks/{bank_id}/share", data={"username": "reader"})
    client.post(f"/banks/{bank_id}/share", data={"username": "editor", "can_edit": "1"})
    refused = client.post(f"/banks/{bank_id}/share", data={"username": "kid"}, follow_redirects=True)
    assert "username: no such examiner (kid)" in refused.get_data(as_text=True)
    urls = [
        f"/banks/{bank_id}",
        f"/banks/items/{item_id}",
        f"/banks/{bank_id}/knowledge-points",
        f"/banks/{bank_id}/export?format=json",
    ]
    edit_urls = [f"/banks/{bank_id}/items/new", f"/banks/items/{item_id}/edit", f"/banks/{bank_id}/import"]
    expected = {
        "kid": (403, 403),
        "watcher": (403, 403),
        "stranger": (404, 404),
        "reader": (200, 404),
        "editor": (200, 200),
    }
    for name, (read, edit) in expected.items():
        client.post("/logout")
        login(client, name)
        assert [client.get(u).status_code for u in urls] == [read] * len(urls), name
        assert [client.get(u).status_code for u in edit_urls] == [edit] * len(edit_urls), name
        posted = client.post(f"/banks/items/{item_id}/edit", data={"stem": "hacked", "key": "false"})
        assert posted.status_code in ((302,) if edit == 200 else (edit,)), name
        if name != "editor":
            # Only the owner shares the bank.
            assert client.post(f"/banks/{bank_id}/share", data={"username": "stranger"}).status_code in (403, 404)
    with app.app_context():
        assert db.session.get(Item, item_id).current_version.stem == "hacked"  # the editor's edit only
    client.post("/logout")
    login(client, "owner")
    with app.app_context():
        editor_id = db.session.scalar(select(ItemBank).where(ItemBank.id == bank_id)).shares[0].user_id
    client.post(f"/banks/{bank_id}/share", data={"remove": str(editor_id)})
    with app.app_context():
        assert len(db.session.get(ItemBank, bank_id).shares) == 1


def test_import_preview_confirm_and_export(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    items = [
        {
            "source_id": "q1",
            "type": "single_choice",
            "stem": "1+1?",
            "options": [{"key": "A", "text": "2"}, {"key": "B", "text": "3"}],
            "key": "A",
            "knowledge_points": ["1.2"],
        },
        {"source_id": "q2", "type": "true_false", "stem": "Zero is even.", "key": True},
        {"source_id": "q3", "type": "multiple_choice", "stem": "Primes", "options": [{"key": "A", "text": "2"}]},
    ]
    data = json.dumps(items).encode()

    def upload(content: bytes, name: str = "items.json") -> Any:
        return client.post(
            f"/banks/{bank_id}/import", data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data"
        )

    preview = upload(data).get_data(as_text=True)
    assert "2 items would be imported" in preview and "1 rejected" in preview
    assert "q3" in preview and "at least two options" in preview  # the rejected row and its reason
    assert "1+1?" in preview and "Zero is even." in preview  # the preview table
    assert _count(app) == 0
    token = re.search(r'name="token" value="([0-9a-f]+)"', preview).group(1)
    assert client.post(f"/banks/{bank_id}/import", data={"token": "f" * 32}, follow_redirects=True).status_code == 200
    done = client.post(f"/banks/{bank_id}/import", data={"token": token}).get_data(as_text=True)
    assert "2 items imported" in done and _count(app) == 2
    # The token is spent: confirming again imports nothing more.
    again = client.post(f"/banks/{bank_id}/import", data={"token": token}, follow_redirects=True)
    assert "The preview expired" in again.get_data(as_text=True) and _count(app) == 2
    repeat = upload(data).get_data(as_text=True)
    assert "0 items would be imported" in repeat and "already in bank" in repeat
    broken = upload(b"[{", "broken.json")
    assert broken.status_code == 422 and "not valid JSON" in broken.get_data(as_text=True)
    exported = client.get(f"/banks/{bank_id}/export?format=json")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert sorted(entry["source_id"] for entry in json.loads(exported.data)) == ["q1", "q2"]
    filtered = client.get(f"/banks/{bank_id}/export?format=json&type=true_false")
    assert [entry["source_id"] for entry in json.loads(filtered.data)] == ["q2"]
    wrong = client.get(f"/banks/{bank_id}/export?format=pdf", follow_redirects=True)
    assert "format:" in wrong.get_data(as_text=True)


def test_media_are_served_only_to_those_who_may_see_the_item(
    app: Flask, client: FlaskClient, signed_in: Any, make_user: Any, login: Any, exam_factory: Any
) -> None:
    from exam.delivery.models import PaperItem
    from itembank.services import asset_file

    ids = exam_factory(students=1)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    with app.app_context():
        paper_item = db.session.get(PaperItem, ids["paper"]["true_false"])
        asset = ItemAsset(item_id=paper_item.item_version.item_id, name="dot.png", mime="image/png", sha256="ab" * 32,
                          size=len(png))  # fmt: skip
        db.session.add(asset)
        db.session.commit()
        path = asset_file(app.config["STORAGE_DIR"], asset)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        url = f"/banks/assets/{asset.id}/dot.png"
        student = db.session.get(type(paper_item.exam.owner), ids["students"][0]).username
        owner = paper_item.exam.owner.username
    make_user("outsider", "student")
    make_user("stranger", "examiner")
    login(client, student)
    served = client.get(url)
    assert served.status_code == 200 and served.data == png and served.mimetype == "image/png"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    for name, status in (("outsider", 404), ("stranger", 404), (owner, 200)):
        client.post("/logout")
        login(client, name)
        assert client.get(url).status_code == status, name
    client.post("/logout")
    assert client.get(url).status_code in (302, 401)


def test_pages_in_chinese(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    client.post("/language/zh_CN")
    client.post(f"/banks/{bank_id}/knowledge-points", data={"code": "1", "name_zh": "函数", "name_en": "Functions"})
    item_id = _item_id(_new_item(client, bank_id, type="numerical", stem="g?", value="9.8", tolerance="0.1"))
    pages = {
        "/banks/": "题库",
        f"/banks/{bank_id}": "共 1 道题",
        f"/banks/items/{item_id}": "版本",
        f"/banks/items/{item_id}/edit": "允许误差",
        f"/banks/{bank_id}/items/new?type=matching": "左侧标号",
        f"/banks/{bank_id}/knowledge-points": "上级知识点",
        f"/banks/{bank_id}/import": "题库中已有的试题",
    }
    for url, text in pages.items():
        response = client.get(url)
        assert response.status_code == 200 and text in response.get_data(as_text=True), url


def test_images_uploaded_with_the_item_form(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    signed_in("teacher", "examiner")
    bank_id = _new_bank(app, client)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    form = {"type": "true_false", "stem": '<p>Look: <img src="asset:fig 1.png"></p>', "key": "true"}
    made = client.post(
        f"/banks/{bank_id}/items/new",
        data={**form, "images": [(io.BytesIO(png), "fig 1.png"), (io.BytesIO(svg), "extra.svg")]},
        content_type="multipart/form-data",
    )
    item_id = _item_id(made)
    with app.app_context():
        item = db.session.get(Item, item_id)
        assets = list(db.session.scalars(select(ItemAsset).where(ItemAsset.item_id == item_id).order_by(ItemAsset.id)))
        assert [(a.name, a.mime) for a in assets] == [("fig 1.png", "image/png"), ("extra.svg", "image/svg+xml")]
        stem = item.current_version.stem
        urls = [f"/banks/assets/{a.id}/" for a in assets]
        assert stem.index(urls[0]) < stem.index("</p>") < stem.index(urls[1])  # referenced in place, extra appended
    shown = client.get(urls[0] + "fig_1.png")
    assert shown.status_code == 200 and shown.data == png
    sandboxed = client.get(urls[1] + "extra.svg")
    assert sandboxed.status_code == 200 and "sandbox" in sandboxed.headers["Content-Security-Policy"]
    refused = client.post(
        f"/banks/{bank_id}/items/new",
        data={**form, "images": [(io.BytesIO(b"MZ\x90\x00 not an image"), "virus.png")]},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and "images: not a PNG, JPEG, GIF, WebP or SVG image (virus.png)" in (
        refused.get_data(as_text=True)
    )
    assert _count(app) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(ItemAsset.id))) == 2


def test_word_templates_download_and_read_back(client: FlaskClient, signed_in: Any) -> None:
    from itembank.formats.detect import read_items

    signed_in("template.teacher", "examiner")
    for locale in ("zh", "en"):
        response = client.get(f"/banks/templates/items-{locale}.docx")
        assert response.status_code == 200 and response.data[:2] == b"PK"
        result = read_items(f"template-{locale}.docx", response.data)
        assert result.drafts and not result.rejected
    assert client.get("/banks/templates/items-fr.docx").status_code == 404
