"""Item bank services: validation per type, versioning once delivered, search filters, sharing, knowledge points."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from exam.auth.models import User
from exam.db import db
from exam.validation import ValidationFailed
from itembank import services
from itembank.models import Item, ItemBank, ItemVersion, KnowledgePoint, Subject
from itembank.services import ItemFields


def _user(make_user: Any, name: str, role: str = "examiner") -> User:
    user = db.session.get(User, make_user(name, role))
    assert user is not None
    return user


def _bank(owner: User, code: str = "MATH") -> ItemBank:
    subject = Subject(code=code, name_en="Mathematics", name_zh="数学")
    db.session.add(subject)
    db.session.flush()
    return services.create_bank(db.session, owner, "代数", subject.id)


def _choice(stem: str = "2 + 2 = ?", key: Any = "B", **extra: Any) -> ItemFields:
    options = [{"key": k, "text": t} for k, t in zip("ABCD", ["3", "4", "5", "6"], strict=True)]
    return ItemFields(type="single_choice", stem=stem, options=options, key=key, **extra)


GOOD = [
    _choice(),
    ItemFields("multiple_choice", "Primes?", [{"key": "A", "text": "2"}, {"key": "B", "text": "4"}], ["A"]),
    ItemFields("true_false", "Zero is even.", [], False),
    ItemFields("fill_blank", "____ 和 ____", [], [{"accepted": ["北京", "Beijing"]}, {"accepted": ["上海"]}]),
    ItemFields("numerical", "g = ? m/s²", [], {"value": 9.81, "tolerance": 0.05, "units": ["m/s^2"]}),
    ItemFields("short_answer", "Why?", [], {"reference": "Because."}, settings={"rubric": "1 point per reason"}),
    ItemFields("essay", "Discuss.", [], None),
    ItemFields(
        "matching",
        "Match",
        [
            {"key": "1", "text": "cat", "side": "left"},
            {"key": "2", "text": "dog", "side": "left"},
            {"key": "a", "text": "猫", "side": "right"},
            {"key": "b", "text": "狗", "side": "right"},
        ],
        {"1": "a", "2": "b"},
    ),
    ItemFields("ordering", "Order", [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}], ["B", "A"]),
]

BAD = [
    (_choice(key="E"), "key", "E"),
    (_choice(key=["A", "B"]), "key", ["A", "B"]),
    (ItemFields("multiple_choice", "?", [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}], []), "key", []),
    (
        ItemFields("multiple_choice", "?", [{"key": "A", "text": "1"}, {"key": "A", "text": "2"}], ["A"]),
        "options",
        None,
    ),
    (ItemFields("true_false", "?", [], "yes"), "key", "yes"),
    (ItemFields("fill_blank", "a ____ b", [], [{"accepted": []}]), "key (blank 1)", None),
    (ItemFields("fill_blank", "a ____ b ____", [], [{"accepted": ["x"]}]), "key", 1),
    (ItemFields("numerical", "?", [], {"value": "three"}), "key", None),
    (ItemFields("numerical", "?", [], {"value": 3, "tolerance": -1}), "tolerance", -1),
    (ItemFields("matching", "?", GOOD[7].options, {"1": "z"}), "key", {"1": "z"}),
    (ItemFields("ordering", "?", [{"key": "A", "text": "1"}, {"key": "B", "text": "2"}], ["A"]), "key", ["A"]),
    (ItemFields("essay", "?", [], "free text"), "key", "free text"),
    (ItemFields("hotspot", "?", [], None), "type", "hotspot"),
    (_choice(stem="  "), "stem", None),
    (_choice(points=0), "points", 0),
    (_choice(level=9), "level", 9),
    (_choice(seconds=0), "seconds", 0),
]


@pytest.mark.parametrize("fields", GOOD, ids=[f.type for f in GOOD])
def test_every_type_is_accepted_with_a_consistent_key(ctx: Any, make_user: Any, fields: ItemFields) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    item = services.create_item(db.session, bank, owner, fields)
    assert item.current_version is not None and item.current_version.number == 1
    assert item.current_version.key == fields.key


@pytest.mark.parametrize(("fields", "field", "value"), BAD, ids=[f"{b[0].type}-{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_inconsistent_items_are_refused_naming_field_and_value(
    ctx: Any, make_user: Any, fields: ItemFields, field: str, value: Any
) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    with pytest.raises(ValidationFailed) as caught:
        services.create_item(db.session, bank, owner, fields)
    problem = next(p for p in caught.value.problems if p["field"] == field)
    if value is not None:
        assert problem["value"] == value
    assert db.session.scalar(select(func.count(Item.id))) == 0


def test_stem_is_sanitised_and_tex_kept(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    item = services.create_item(
        db.session, bank, owner, _choice(stem='Solve \\(x^2=4\\)<script>alert(1)</script><img src=x onerror="y">')
    )
    stem = item.current_version.stem
    assert "\\(x^2=4\\)" in stem and "<script" not in stem and "onerror" not in stem


def test_edit_in_place_until_delivered_then_new_version(app: Flask, exam_factory: Any) -> None:
    from exam.delivery.models import Exam, PaperItem, Response
    from exam.delivery.services import save_answer, start_sitting

    ids = exam_factory(students=1)
    with app.test_request_context():
        exam = db.session.get(Exam, ids["exam"])
        student = db.session.get(User, ids["students"][0])
        owner = db.session.get(User, ids["owner"])
        paper_item = db.session.get(PaperItem, ids["paper"]["single_choice"])
        sitting = start_sitting(db.session, exam, student)
        save_answer(
            db.session, sitting, op_id="op-1", paper_item_id=paper_item.id, answer="B", flagged=None, seq=1, tab="t"
        )
        db.session.commit()
        item = paper_item.item_version.item
        old_version_id = item.current_version_id
        assert item.current_version.frozen  # the exam opened: its paper is frozen
        fields = services.fields_of(item)
        fields.stem = "2 + 3 = ?"
        fields.key = "C"
        version = services.update_item(db.session, item, owner, fields)
        db.session.commit()
        assert version.number == 2 and item.current_version_id == version.id != old_version_id
        assert db.session.get(ItemVersion, old_version_id).stem == "2 + 2 = ?"
        response = db.session.scalar(select(Response).where(Response.sitting_id == sitting.id))
        assert response.item_version_id == old_version_id
        assert db.session.get(PaperItem, paper_item.id).item_version_id == old_version_id
        # The new version is not delivered yet: a second edit changes it in place.
        fields.stem = "2 + 4 = ?"
        fields.key = "D"
        again = services.update_item(db.session, item, owner, fields)
        assert again.id == version.id and again.number == 2 and again.stem == "2 + 4 = ?"
        assert [v.number for v in item.versions] == [1, 2]


def test_unused_item_is_edited_in_place_and_refused_edit_changes_nothing(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    item = services.create_item(db.session, bank, owner, _choice())
    fields = services.fields_of(item)
    fields.stem = "edited"
    services.update_item(db.session, item, owner, fields)
    assert len(item.versions) == 1 and item.current_version.stem == "edited"
    db.session.commit()
    fields.key = "Z"
    with pytest.raises(ValidationFailed):
        services.update_item(db.session, item, owner, fields)
    db.session.rollback()
    assert db.session.get(Item, item.id).current_version.key == "B"


def _tree(subject: Subject) -> dict[str, KnowledgePoint]:
    algebra = services.add_knowledge_point(db.session, subject, "1", "Algebra", "代数")
    equations = services.add_knowledge_point(db.session, subject, "1.1", "Equations", "方程", algebra.id)
    quadratic = services.add_knowledge_point(db.session, subject, "1.1.1", "Quadratic", "二次方程", equations.id)
    geometry = services.add_knowledge_point(db.session, subject, "2", "Geometry", "几何")
    return {"algebra": algebra, "equations": equations, "quadratic": quadratic, "geometry": geometry}


def test_knowledge_point_tree(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    kps = _tree(bank.subject)
    assert services.descendants(db.session, kps["algebra"].id) == {
        kps["algebra"].id,
        kps["equations"].id,
        kps["quadratic"].id,
    }
    tree = services.knowledge_tree(db.session, bank.subject_id)
    assert [kp.code for kp in tree[None]] == ["1", "2"] and [kp.code for kp in tree[kps["algebra"].id]] == ["1.1"]
    with pytest.raises(ValidationFailed) as caught:
        services.add_knowledge_point(db.session, bank.subject, "1.1", "Again", "", None)
    assert caught.value.problems[0] == {"field": "code", "message": "already used in this subject", "value": "1.1"}
    other = Subject(code="ENG", name_en="English", name_zh="英语")
    db.session.add(other)
    db.session.flush()
    with pytest.raises(ValidationFailed) as caught:
        services.add_knowledge_point(db.session, other, "9", "Grammar", "", kps["algebra"].id)
    assert caught.value.problems[0]["field"] == "parent"
    # An item may only use the knowledge points of its bank's subject.
    foreign = services.add_knowledge_point(db.session, other, "9", "Grammar", "语法")
    fields = _choice(knowledge_point_ids=[foreign.id])
    with pytest.raises(ValidationFailed) as caught:
        services.create_item(db.session, bank, owner, fields)
    assert caught.value.problems[0]["value"] == [foreign.id]


def test_search_filters_and_pagination(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    bank = _bank(owner)
    kps = _tree(bank.subject)
    made = {
        "quad": services.create_item(
            db.session,
            bank,
            owner,
            _choice(
                "Solve the quadratic x² = 4",
                tags=["方程", "linear"],
                level=4,
                knowledge_point_ids=[kps["quadratic"].id],
            ),
        ),
        "zh": services.create_item(
            db.session,
            bank,
            owner,
            ItemFields(
                "fill_blank",
                "三角形内角和是____度",
                [],
                [{"accepted": ["180"]}],
                level=2,
                tags=["几何"],
                knowledge_point_ids=[kps["geometry"].id],
            ),
        ),
        "tf": services.create_item(
            db.session, bank, owner, ItemFields("true_false", "A & B < C is TRUE", [], True, source_id="ext-7")
        ),
    }
    services.retire_item(db.session, made["tf"])

    def ids(**filters: Any) -> set[int]:
        page = services.search_items(db.session, owner, bank.id, **filters)
        return {i.id for i in page.items}

    assert ids() == {made["quad"].id, made["zh"].id}
    assert ids(q="QUADRATIC") == {made["quad"].id}  # case-insensitive English
    assert ids(q="内角和") == {made["zh"].id}  # Chinese text
    assert ids(kp_id=kps["algebra"].id) == {made["quad"].id}  # descendants included
    assert ids(kp_id=kps["equations"].id) == {made["quad"].id}
    assert ids(kp_id=kps["geometry"].id) == {made["zh"].id}
    assert ids(tag="方程") == {made["quad"].id} and ids(tag="几何") == {made["zh"].id} and ids(tag="line") == set()
    assert ids(item_type="fill_blank") == {made["zh"].id}
    assert ids(level=4) == {made["quad"].id}
    assert ids(status="retired") == {made["tf"].id}
    assert ids(status="retired", q="A & B < C") == {made["tf"].id}  # entities in stored HTML
    assert ids(status="", q="ext-7") == {made["tf"].id}  # source id
    assert ids(q="100%") == set()  # LIKE wildcards are literal
    services.restore_item(db.session, made["tf"])
    assert made["tf"].id in ids()
    for n in range(5):
        services.create_item(db.session, bank, owner, _choice(f"filler {n}"))
    first = services.search_items(db.session, owner, bank.id, q="filler", per_page=2)
    last = services.search_items(db.session, owner, bank.id, q="filler", per_page=2, page=3)
    assert first.total == 5 and first.pages == 3 and len(first.items) == 2 and len(last.items) == 1
    assert {i.id for i in first.items}.isdisjoint({i.id for i in last.items})


def test_permissions_sharing(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    colleague = _user(make_user, "colleague")
    stranger = _user(make_user, "stranger")
    student = _user(make_user, "kid", "student")
    admin = _user(make_user, "boss", "admin")
    bank = _bank(owner)
    services.create_item(db.session, bank, owner, _choice())
    for user in (colleague, stranger, student):
        with pytest.raises(NotFound):
            services.search_items(db.session, user, bank.id)
    assert services.search_items(db.session, admin, bank.id).total == 1
    services.share_bank(db.session, bank, "colleague", can_edit=False)
    assert services.search_items(db.session, colleague, bank.id).total == 1
    assert not services.can_access(db.session, colleague, bank, edit=True)
    services.share_bank(db.session, bank, colleague, can_edit=True)
    assert services.can_access(db.session, colleague, bank, edit=True)
    for name, message in (("kid", "no such examiner"), ("nobody", "no such examiner"), ("owner", "owns the bank")):
        with pytest.raises(ValidationFailed) as caught:
            services.share_bank(db.session, bank, name, can_edit=True)
        assert caught.value.problems == [{"field": "username", "message": message, "value": name}]
    services.unshare_bank(db.session, bank, colleague.id)
    with pytest.raises(NotFound):
        services.get_bank(db.session, colleague, bank.id)


def test_create_bank_validation(ctx: Any, make_user: Any) -> None:
    owner = _user(make_user, "owner")
    with pytest.raises(ValidationFailed) as caught:
        services.create_bank(db.session, owner, " ", 12345)
    assert {p["field"] for p in caught.value.problems} == {"name", "subject"}
    assert db.session.scalar(select(func.count(ItemBank.id))) == 0
