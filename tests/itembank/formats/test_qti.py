"""QTI 2.1/2.2/3.0 items and packages: samples written from the IMS specifications, rejections, round trips."""

import io
import zipfile
from pathlib import Path

import pytest

from itembank.formats.detect import read_items, write_items
from itembank.formats.model import ItemDraft
from itembank.formats.qti import read_qti_item, read_qti_package, write_qti_item

DATA = Path(__file__).parent / "data"
V21 = 'xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1"'
V22 = 'xmlns="http://www.imsglobal.org/xsd/imsqti_v2p2"'


def _package() -> bytes:
    root = DATA / "qti30_package"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(root).as_posix())
    return buf.getvalue()


def _item(body: str, decls: str = "", rp: str = "", ns: str = V21, ident: str = "x") -> bytes:
    return (
        f'<assessmentItem {ns} identifier="{ident}" title="t" adaptive="false" timeDependent="false">'
        f"{decls}<itemBody>{body}</itemBody>{rp}</assessmentItem>"
    ).encode()


def _rd(ident: str, card: str, base: str, *values: str, extra: str = "") -> str:
    vals = "".join(f"<value>{v}</value>" for v in values)
    correct = f"<correctResponse>{vals}</correctResponse>" if values else ""
    return (
        f'<responseDeclaration identifier="{ident}" cardinality="{card}" baseType="{base}">{correct}{extra}'
        "</responseDeclaration>"
    )


MATCH_CORRECT = '<responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"/>'


def test_qti21_choice_item_from_the_spec_example() -> None:
    res = read_items("choice.xml", (DATA / "qti21_choice.xml").read_bytes())
    (d,) = res.drafts
    assert (d.source_id, d.type, d.key, d.points) == ("choice", "single_choice", "A", 1.0)
    assert d.options[0]["text"] == "You must stay with your luggage at all times."
    assert "What does it say?" in d.stem and "Look at the text in the picture." in d.stem
    assert any("images/sign.png" in w for w in res.warnings)  # a single XML file cannot carry its image


def test_qti30_package_with_three_items_and_an_image() -> None:
    res = read_items("geometry.zip", _package())
    assert not res.rejected
    by_id = {d.source_id: d for d in res.drafts}
    assert sorted(by_id) == ["angles", "capitals", "primes"]
    angles = by_id["angles"]
    assert angles.type == "numerical" and angles.key == {"value": 180.0, "tolerance": 0.5, "units": []}
    assert angles.points == 2.0 and 'src="asset:triangle.png"' in angles.stem
    assert (
        angles.assets["triangle.png"].data.startswith(b"\x89PNG") and angles.assets["triangle.png"].mime == "image/png"
    )
    primes = by_id["primes"]
    assert primes.type == "multiple_choice" and primes.key == ["A", "B"] and primes.points == 2.0
    assert primes.settings == {"scoring": "weights", "weights": {"A": 0.5, "B": 0.5, "C": -0.5}}
    assert "<math>" in primes.stem
    capitals = by_id["capitals"]
    assert capitals.type == "fill_blank" and capitals.stem.count("____") == 2
    assert capitals.key[0]["accepted"] == ["Paris", "paris"]
    assert capitals.key[1]["accepted"] == ["Germany"] and capitals.key[1]["choices"] == ["Austria", "Germany"]


def test_interaction_types_map_onto_canonical_types() -> None:
    order = _item(
        '<orderInteraction responseIdentifier="R"><prompt>Order by size</prompt>'
        '<simpleChoice identifier="s">small</simpleChoice><simpleChoice identifier="b">big</simpleChoice>'
        '<simpleChoice identifier="m">medium</simpleChoice></orderInteraction>',
        _rd("R", "ordered", "identifier", "s", "m", "b"),
        MATCH_CORRECT,
        V22,
    )
    d = read_qti_item(order).drafts[0]
    assert (d.type, d.key, d.stem) == ("ordering", ["A", "C", "B"], "Order by size")
    match = _item(
        '<matchInteraction responseIdentifier="R" maxAssociations="2"><simpleMatchSet>'
        '<simpleAssociableChoice identifier="cat" matchMax="1">cat</simpleAssociableChoice>'
        '<simpleAssociableChoice identifier="dog" matchMax="1">dog</simpleAssociableChoice></simpleMatchSet>'
        '<simpleMatchSet><simpleAssociableChoice identifier="woof" matchMax="1">woof</simpleAssociableChoice>'
        '<simpleAssociableChoice identifier="meow" matchMax="1">meow</simpleAssociableChoice>'
        "</simpleMatchSet></matchInteraction>",
        _rd("R", "multiple", "directedPair", "cat meow", "dog woof"),
        MATCH_CORRECT,
    )
    d = read_qti_item(match).drafts[0]
    assert d.type == "matching" and d.key == {"1": "b", "2": "a"}
    assert [(o["key"], o["side"]) for o in d.options] == [("1", "left"), ("2", "left"), ("a", "right"), ("b", "right")]
    assoc = _item(
        '<associateInteraction responseIdentifier="R" maxAssociations="2">'
        '<simpleAssociableChoice identifier="A" matchMax="1">Paris</simpleAssociableChoice>'
        '<simpleAssociableChoice identifier="B" matchMax="1">France</simpleAssociableChoice>'
        '<simpleAssociableChoice identifier="C" matchMax="1">Rome</simpleAssociableChoice>'
        '<simpleAssociableChoice identifier="D" matchMax="1">Italy</simpleAssociableChoice>'
        "</associateInteraction>",
        _rd("R", "multiple", "pair", "A B", "C D"),
        MATCH_CORRECT,
    )
    d = read_qti_item(assoc).drafts[0]
    assert d.type == "matching" and d.key == {"1": "a", "2": "b"}
    gap = _item(
        '<gapMatchInteraction responseIdentifier="R"><gapText identifier="W1" matchMax="1">winter</gapText>'
        '<gapText identifier="W2" matchMax="1">summer</gapText><p>Hot in <gap identifier="G1"/>, cold in '
        '<gap identifier="G2"/>.</p></gapMatchInteraction>',
        _rd("R", "multiple", "directedPair", "W2 G1", "W1 G2"),
        MATCH_CORRECT,
    )
    d = read_qti_item(gap).drafts[0]
    assert d.type == "fill_blank" and d.stem == "Hot in ____, cold in ____."
    assert [b["accepted"] for b in d.key] == [["summer"], ["winter"]]
    essay = _item('<extendedTextInteraction responseIdentifier="R" expectedLines="20"/>', _rd("R", "single", "string"))
    short = _item(
        '<extendedTextInteraction responseIdentifier="R" expectedLines="2"/>',
        _rd("R", "single", "string", "photosynthesis"),
    )
    assert read_qti_item(essay).drafts[0].type == "essay"
    assert read_qti_item(short).drafts[0].key == {"reference": "photosynthesis"}
    integer = _item(
        '<p>3 x 4 = <textEntryInteraction responseIdentifier="R"/></p>',
        _rd("R", "single", "integer", "12"),
        MATCH_CORRECT,
    )
    d = read_qti_item(integer).drafts[0]
    assert d.type == "numerical" and d.key == {"value": 12.0, "tolerance": 0, "units": []}
    one_inline = _item(
        '<p>Water boils at <inlineChoiceInteraction responseIdentifier="R"><inlineChoice '
        'identifier="a">90</inlineChoice><inlineChoice identifier="b">100</inlineChoice>'
        "</inlineChoiceInteraction> degrees.</p>",
        _rd("R", "single", "identifier", "b"),
        MATCH_CORRECT,
    )
    d = read_qti_item(one_inline).drafts[0]
    assert (d.type, d.key, d.stem) == ("single_choice", "B", "Water boils at ____ degrees.")


def test_unsupported_constructs_are_rejected_by_name() -> None:
    hotspot = _item(
        '<hotspotInteraction responseIdentifier="R" maxChoices="1"><object data="m.png"/></hotspotInteraction>',
        _rd("R", "single", "identifier", "A"),
        MATCH_CORRECT,
        ident="map",
    )
    res = read_qti_item(hotspot)
    assert not res.drafts and res.rejected == [
        {"item": "map", "reason": "item map: hotspotInteraction is not supported"}
    ]
    custom = _item(
        '<choiceInteraction responseIdentifier="R" maxChoices="1"><simpleChoice identifier="A">a'
        '</simpleChoice><simpleChoice identifier="B">b</simpleChoice></choiceInteraction>',
        _rd("R", "single", "identifier", "A"),
        "<responseProcessing><setOutcomeValue identifier='SCORE'><customOperator class='x'/>"
        "</setOutcomeValue></responseProcessing>",
    )
    assert "customOperator" in read_qti_item(custom).rejected[0]["reason"]
    mixed = _item(
        '<choiceInteraction responseIdentifier="R"><simpleChoice identifier="A">a</simpleChoice>'
        '</choiceInteraction><p><textEntryInteraction responseIdentifier="T"/></p>',
        _rd("R", "single", "identifier", "A") + _rd("T", "single", "string", "x"),
        MATCH_CORRECT,
    )
    assert "combining" in read_qti_item(mixed).rejected[0]["reason"]


def test_true_false_and_custom_match_rule() -> None:
    rp = (
        "<responseProcessing><responseCondition><responseIf><match><variable identifier='R'/>"
        "<correct identifier='R'/></match><setOutcomeValue identifier='SCORE'><baseValue baseType='float'>1"
        "</baseValue></setOutcomeValue></responseIf></responseCondition></responseProcessing>"
    )
    tf = _item(
        '<p>The sun is a star.</p><choiceInteraction responseIdentifier="R" maxChoices="1"><simpleChoice '
        'identifier="true">True</simpleChoice><simpleChoice identifier="false">False</simpleChoice>'
        "</choiceInteraction>",
        _rd("R", "single", "identifier", "true"),
        rp,
    )
    d = read_qti_item(tf).drafts[0]
    assert (d.type, d.key, d.stem) == ("true_false", True, "The sun is a star.")


def _mixed_drafts() -> list[ItemDraft]:
    png = (DATA / "qti30_package" / "images" / "triangle.png").read_bytes()
    from itembank.formats.model import Asset

    return [
        ItemDraft(
            "sc1",
            "single_choice",
            '<p>Pick <b>B</b></p><p><img src="asset:a.png"></p>',
            options=[{"key": "A", "text": "one"}, {"key": "B", "text": "two &amp; three"}],
            key="B",
            points=2,
            explanation="Because.",
            assets={"a.png": Asset(png, "image/png")},
        ),
        ItemDraft(
            "mc1",
            "multiple_choice",
            "Even numbers",
            options=[{"key": k, "text": t} for k, t in zip("ABC", ["2", "3", "4"], strict=True)],
            key=["A", "C"],
            settings={"scoring": "weights", "weights": {"A": 0.5, "B": -0.5, "C": 0.5}},
        ),
        ItemDraft("tf1", "true_false", "Water is wet.", key=False),
        ItemDraft("num1", "numerical", "Pi to two places", key={"value": 3.14, "tolerance": 0.005, "units": []}),
        ItemDraft(
            "fb1",
            "fill_blank",
            "____ is the capital of ____.",
            points=2,
            key=[
                {"accepted": ["Paris"], "numeric": False, "tolerance": 0},
                {"accepted": ["France"], "numeric": False, "tolerance": 0, "choices": ["Spain", "France"]},
            ],
            settings={"case_sensitive": True, "order_free": False},
        ),
        ItemDraft(
            "mt1",
            "matching",
            "Match",
            options=[
                {"key": "1", "text": "cat", "side": "left"},
                {"key": "2", "text": "dog", "side": "left"},
                {"key": "a", "text": "woof", "side": "right"},
                {"key": "b", "text": "meow", "side": "right"},
            ],
            key={"1": "b", "2": "a"},
            points=2,
        ),
        ItemDraft(
            "or1",
            "ordering",
            "Order",
            options=[{"key": k, "text": t} for k, t in zip("ABC", ["x", "y", "z"], strict=True)],
            key=["C", "A", "B"],
        ),
        ItemDraft("sa1", "short_answer", "Name it", key={"reference": "photosynthesis"}),
        ItemDraft("es1", "essay", "Discuss <math><mi>x</mi></math>", points=10),
    ]


def _comparable(d: ItemDraft) -> tuple:
    return (
        d.source_id,
        d.type,
        d.stem,
        d.options,
        d.key,
        d.points,
        d.explanation,
        d.settings,
        {k: (a.data, a.mime) for k, a in d.assets.items()},
    )


@pytest.mark.parametrize("fmt", ["qti30", "qti21"])
def test_package_round_trip_of_every_type(fmt: str) -> None:
    first = read_items(f"{fmt}.zip", write_items(fmt, _mixed_drafts()))
    assert not first.rejected and len(first.drafts) == 9
    again = read_items(f"{fmt}.zip", write_items(fmt, first.drafts))
    assert [_comparable(d) for d in again.drafts] == [_comparable(d) for d in first.drafts]
    by_id = {d.source_id: d for d in first.drafts}
    assert by_id["sc1"].key == "B" and by_id["mc1"].settings["weights"]["B"] == -0.5
    assert by_id["num1"].key == {"value": 3.14, "tolerance": 0.005, "units": []} and by_id["es1"].points == 10
    assert by_id["mt1"].key == {"1": "b", "2": "a"} and by_id["or1"].key == ["C", "A", "B"]


def test_written_items_use_each_versions_spelling() -> None:
    d = _mixed_drafts()[1]
    v3 = write_qti_item(d, "3.0").decode()
    v2 = write_qti_item(d, "2.1").decode()
    assert "<qti-choice-interaction" in v3 and 'max-choices="0"' in v3 and "imsqtiasi_v3p0" in v3
    assert "<choiceInteraction" in v2 and 'maxChoices="0"' in v2 and "imsqti_v2p1" in v2
    with zipfile.ZipFile(io.BytesIO(write_items("qti30", [d]))) as archive:
        assert "imsqti_item_xmlv3p0" in archive.read("imsmanifest.xml").decode()


def test_package_missing_item_file_is_rejected_not_dropped() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("imsmanifest.xml", (DATA / "qti30_package" / "imsmanifest.xml").read_bytes())
        archive.writestr("items/primes.xml", (DATA / "qti30_package" / "items" / "primes.xml").read_bytes())
        archive.writestr("items/angles.xml", b"<qti-assessment-item><broken")
    res = read_qti_package(buf.getvalue())
    assert [d.source_id for d in res.drafts] == ["primes"]
    reasons = " ".join(r["reason"] for r in res.rejected)
    assert "not well-formed" in reasons and "items/capitals.xml" in reasons and len(res.rejected) == 2


def test_qti21_package_with_object_image_and_graphic_rejection() -> None:
    png = (DATA / "qti30_package" / "images" / "triangle.png").read_bytes()
    item = _item(
        '<p>Which shape? <object type="image/png" data="../img/shape.png">a shape</object></p>'
        '<choiceInteraction responseIdentifier="R" maxChoices="1"><simpleChoice identifier="A">triangle'
        '</simpleChoice><simpleChoice identifier="B">square</simpleChoice></choiceInteraction>',
        _rd("R", "single", "identifier", "A"),
        MATCH_CORRECT,
        ident="shape",
    )
    point = _item(
        '<selectPointInteraction responseIdentifier="P" maxChoices="1"><object type="image/png" '
        'data="../img/shape.png"/></selectPointInteraction>',
        _rd("P", "single", "point", extra="<areaMapping defaultValue='0'/>"),
        '<responseProcessing template="http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response_point"/>',
        ident="point",
    )
    manifest = (
        '<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M"><resources>'
        '<resource identifier="r1" type="imsqti_item_xmlv2p1" href="items/shape.xml"/>'
        '<resource identifier="r2" type="imsqti_item_xmlv2p1" href="items/point.xml"/>'
        '<resource identifier="t" type="imsqti_test_xmlv2p1" href="test.xml"/></resources></manifest>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("imsmanifest.xml", manifest)
        archive.writestr("items/shape.xml", item)
        archive.writestr("items/point.xml", point)
        archive.writestr("img/shape.png", png)
    res = read_items("old.zip", buf.getvalue())
    (d,) = res.drafts
    assert d.stem == 'Which shape? <img src="asset:shape.png" alt="a shape">' and d.assets["shape.png"].data == png
    assert res.rejected == [{"item": "point", "reason": "item point: selectPointInteraction is not supported"}]
    assert any("only its items" in w for w in res.warnings)
