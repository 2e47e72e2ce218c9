"""GIFT reader/writer against the syntax of Moodle's GIFT documentation."""

from collections import Counter

from itembank.formats.detect import read_items, write_items
from itembank.formats.gift import read_gift

SAMPLE = r"""// examples adapted from docs.moodle.org/en/GIFT_format
$CATEGORY: $course$/top/数学/函数

::Q1:: Who's buried in Grant's tomb?{~Grant ~Jefferson =no one#right!####Grant is buried there with his wife.}

::Q2:: Grant is buried in Grant's tomb.{F#No, he is.#Yes, well done.}

::Q3:: Two plus two equals \{what\}?{=four =4}

::Q4:: What is a value of pi (3 decimal places)? {#3.141:0.0005}

::Q5:: What two people are entombed in Grant's tomb? {~%-100%No one ~%50%Grant ~%50%Grant's wife ~%-100%Grant's father}

::Q6:: Write about your summer.{}

::Q7:: Match the animals. {=cat -> meow =dog -> woof =cow -> moo}

::Q8:: Mahatma Gandhi's birthday is an {~important =famous} holiday.

::Q9:: Number between 1 and 5 {#1..5}

::Q10:: When was Ulysses S. Grant born? {#=1822:0 =%50%1822:2}

::Q11:: Is 1 \= 1? Answer \~ T or F{TRUE}

::Q12:: [markdown]Which is **bold**?{=the first ~%50%the second ~the third}

$CATEGORY: $course$/top/物理

Just a description line without answers.

::Q13:: Ratio \: colon{=1\:2}

::Q14:: Multiple equals {=a =b ~c}
"""


def test_types_keys_and_scores() -> None:
    res = read_gift(SAMPLE.encode())
    by_id = {d.source_id: d for d in res.drafts}
    assert Counter(d.type for d in res.drafts) == {
        "single_choice": 3,
        "true_false": 2,
        "fill_blank": 2,
        "numerical": 3,
        "multiple_choice": 1,
        "essay": 1,
        "matching": 1,
    }
    assert by_id["Q1"].type == "single_choice" and by_id["Q1"].key == "C" and by_id["Q1"].settings == {}
    assert by_id["Q1"].explanation == "Grant is buried there with his wife."
    assert by_id["Q1"].knowledge_points == ["数学/函数"] and by_id["Q13"].knowledge_points == ["物理"]
    assert by_id["Q2"].key is False and by_id["Q11"].key is True and by_id["Q11"].stem == "Is 1 = 1? Answer ~ T or F"
    assert by_id["Q3"].stem == "Two plus two equals {what}?" and by_id["Q3"].key[0]["accepted"] == ["four", "4"]
    assert by_id["Q4"].key == {"value": 3.141, "tolerance": 0.0005, "units": []}
    q5 = by_id["Q5"]
    assert q5.type == "multiple_choice" and q5.key == ["B", "C"]
    assert q5.settings["weights"] == {"A": -1.0, "B": 0.5, "C": 0.5, "D": -1.0}
    assert by_id["Q7"].key == {"1": "a", "2": "b", "3": "c"} and by_id["Q7"].options[3]["text"] == "meow"
    assert by_id["Q8"].stem == "Mahatma Gandhi's birthday is an ____ holiday." and by_id["Q8"].key == "B"
    assert by_id["Q9"].key == {"value": 3.0, "tolerance": 2.0, "units": []}
    assert by_id["Q10"].key == {"value": 1822.0, "tolerance": 0.0, "units": []}
    q12 = by_id["Q12"]
    assert q12.stem == "Which is <strong>bold</strong>?" and q12.settings["weights"] == {"A": 1.0, "B": 0.5, "C": 0.0}
    assert by_id["Q13"].key[0]["accepted"] == ["1:2"]
    assert [r["item"] for r in res.rejected] == ["Q14"] and "exactly one '='" in res.rejected[0]["reason"]
    assert any("description" in w for w in res.warnings) and any("Q10" in w for w in res.warnings)


def test_round_trip_equal() -> None:
    first = read_gift(SAMPLE.encode()).drafts
    text = write_items("gift", first)
    again = read_items("again.gift", text)
    assert not again.rejected
    assert [
        (d.source_id, d.type, d.stem, d.options, d.key, d.settings, d.explanation, d.knowledge_points)
        for d in again.drafts
    ] == [(d.source_id, d.type, d.stem, d.options, d.key, d.settings, d.explanation, d.knowledge_points) for d in first]


def test_gbk_gift_is_converted_with_a_warning() -> None:
    res = read_items("题库.gift", "::题1:: 中国的首都是？{=北京 ~上海}\n".encode("gbk"))
    assert res.drafts[0].key == "A" and res.drafts[0].options[0]["text"] == "北京"
    assert any("GB18030" in w for w in res.warnings)
