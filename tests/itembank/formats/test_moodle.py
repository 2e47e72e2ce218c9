"""Moodle XML: an export with categories, cloze, images and rejected types; round trip."""

from collections import Counter
from pathlib import Path

from itembank.formats.detect import read_items, write_items
from itembank.formats.model import ItemDraft

DATA = Path(__file__).parent / "data"


def _read() -> tuple:
    res = read_items("export.xml", (DATA / "moodle_export.xml").read_bytes())
    return res, {d.source_id: d for d in res.drafts}


def test_counts_types_keys_and_scores() -> None:
    res, by_id = _read()
    assert Counter(d.type for d in res.drafts) == {
        "single_choice": 1,
        "multiple_choice": 1,
        "true_false": 1,
        "numerical": 1,
        "fill_blank": 2,
        "essay": 1,
        "matching": 1,
    }
    vertex = by_id["M-001"]  # idnumber is the stable source id
    assert vertex.key == "A" and vertex.points == 2.0 and vertex.knowledge_points == ["数学/函数"]
    assert vertex.options[0]["text"] == "(1, 2)" and vertex.explanation.startswith("<p>顶点式")
    primes = by_id["Prime numbers"]
    assert primes.key == ["A", "B"] and primes.points == 3.0
    assert primes.settings == {"scoring": "weights", "weights": {"A": 0.5, "B": 0.5, "C": -1.0, "D": -1.0}}
    assert by_id["Gravity"].key is True and by_id["Gravity"].knowledge_points == ["物理/力学"]
    assert by_id["g"].key == {"value": 9.81, "tolerance": 0.05, "units": ["m/s^2"]}
    newton = by_id["Newton"]
    assert newton.key[0]["accepted"] == ["Newton", "*Isaac Newton*"] and newton.settings["wildcards"] is True
    assert by_id["Energy essay"].key == {"reference": "<p>Mentions kinetic and potential energy.</p>"}
    units = by_id["Units"]
    assert units.key == {"1": "a", "2": "b", "3": "c"}
    assert [o["text"] for o in units.options if o["side"] == "right"] == ["newton", "joule", "watt", "pascal"]


def test_embedded_image_becomes_an_asset() -> None:
    _, by_id = _read()
    vertex = by_id["M-001"]
    assert '<img src="asset:graph 1.png" alt="graph">' in vertex.stem
    assert vertex.assets["graph 1.png"].data.startswith(b"\x89PNG") and vertex.assets["graph 1.png"].mime == "image/png"


def test_cloze_becomes_fill_blank_and_bad_types_are_named() -> None:
    res, by_id = _read()
    cloze = by_id["Capitals"]
    assert cloze.stem == "<p>The capital of France is ____; 2+2 = ____; Berlin is in ____.</p>"
    assert cloze.key[0]["accepted"] == ["Paris"]
    assert cloze.key[1] == {"accepted": ["4"], "numeric": True, "tolerance": 0.0, "points": 2.0}
    assert cloze.key[2]["choices"] == ["Germany", "Austria", "Switzerland"] and cloze.key[2]["accepted"] == ["Germany"]
    reasons = {r["item"]: r["reason"] for r in res.rejected}
    assert reasons == {
        "Bad cloze": "cloze subquestion type MULTIRESPONSE_H in question Bad cloze is not supported",
        "Area": "question type calculated (Area) is not supported",
    }
    assert any("description 'Reading passage' skipped" in w for w in res.warnings)
    assert any("cm/s^2" in w for w in res.warnings)


def test_round_trip_equal() -> None:
    first, _ = _read()
    again = read_items("again.xml", write_items("moodle", first.drafts))
    assert not again.rejected
    assert again.drafts == first.drafts


def test_ordering_cannot_be_written() -> None:
    d = ItemDraft(
        "o", "ordering", "Order", options=[{"key": "A", "text": "x"}, {"key": "B", "text": "y"}], key=["B", "A"]
    )
    try:
        write_items("moodle", [d])
    except ValueError as exc:
        assert "'o'" in str(exc) and "ordering" in str(exc)
    else:
        raise AssertionError("ordering was written to Moodle XML")


def test_gbk_moodle_without_encoding_declaration_is_converted() -> None:
    xml = (
        "<quiz><question type='truefalse'><name><text>地球</text></name><questiontext format='html'>"
        "<text>地球是圆的。</text></questiontext><answer fraction='100'><text>true</text></answer>"
        "<answer fraction='0'><text>false</text></answer></question></quiz>"
    )
    res = read_items("题库.xml", xml.encode("gbk"))
    assert res.drafts[0].stem == "地球是圆的。" and res.drafts[0].key is True
    assert any("GB18030" in w for w in res.warnings)
