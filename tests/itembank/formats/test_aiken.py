"""Aiken reader/writer and the interchange model."""

import pytest

from itembank.formats.aiken import read_aiken, write_aiken
from itembank.formats.model import ItemDraft

SAMPLE = """What is the correct answer to this question?
A. Is it this one?
B. Maybe this answer?
C. Possibly this one?
D. Must be this one!
ANSWER: D

Which LMS has the most quiz import formats?
A) Moodle
B) ATutor
ANSWER: A

Broken question
A. only
ANSWER: Z
"""


def test_reads_documented_example_and_rejects_bad_answer() -> None:
    res = read_aiken(SAMPLE.encode())
    assert [d.key for d in res.drafts] == ["D", "A"]
    assert res.drafts[1].options[0] == {"key": "A", "text": "Moodle"}
    assert len(res.rejected) == 1 and "question 3" in res.rejected[0]["reason"]


def test_gbk_text_is_decoded() -> None:
    res = read_aiken("二次函数的顶点是？\nA. 原点\nB. 其他\nANSWER: B\n".encode("gbk"))
    assert res.drafts[0].stem == "二次函数的顶点是？"


def test_round_trip() -> None:
    first = read_aiken(SAMPLE.encode()).drafts
    again = read_aiken(write_aiken(first)).drafts
    assert [(d.stem, d.options, d.key) for d in again] == [(d.stem, d.options, d.key) for d in first]


def test_stem_is_sanitised_and_type_checked() -> None:
    d = ItemDraft(source_id="x", type="essay", stem="<p>a<script>x()</script><math><mi>x</mi></math></p>")
    assert "script" not in d.stem and "<math>" in d.stem
    with pytest.raises(ValueError, match="hotspot"):
        ItemDraft(source_id="y", type="hotspot", stem="s")
