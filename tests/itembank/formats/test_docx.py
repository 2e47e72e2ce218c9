"""Word documents in the Chinese teachers' layout (generated here with python-docx) and the English one."""

import io
import struct
import zlib
from collections import Counter

import docx
from docx.shared import Cm

from itembank.formats.detect import read_items, write_items
from itembank.formats.docx import word_template


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _chinese_paper() -> bytes:
    doc = docx.Document()
    doc.add_heading("2024学年第一学期期中考试 数学", level=1)
    lines = [
        "一、单项选择题（本大题共3小题，每小题3分）",
        "1．下列函数中是二次函数的是（  ）",
        "A．y=2x+1    B．y=x²    C．y=1/x    D．y=√x",
        "【答案】B",
        "【解析】形如 y=ax²+bx+c（a≠0）的函数是二次函数。",
        "IMAGE",
        "A、(0,0)",
        "B、(1,1)",
        "C、(0,1)",
        "D、(1,0)",
        "答案：A",
        "3. 1.5 + 1.5 = ?",
        "A. 2 B. 3 C. 4 D. 5",
        "【答案】E",
        "二、多项选择题（每题4分）",
        "4．下列数中是偶数的有",
        "A.2",
        "B.3",
        "C.4",
        "D.6",
        "【答案】A、C、D",
        "三、判断题（每题1分）",
        "5．三角形的内角和是180°。（  ）",
        "【答案】√",
        "（6）1 是质数。",
        "【答案】×",
        "四、填空题（每题2分）",
        "7．中国的首都是____，最大的城市是（    ）。",
        "【答案】北京；上海",
        "五、简答题（每题10分）",
        "8．简述勾股定理。",
        "【答案】直角三角形两直角边的平方和等于斜边的平方。",
        "六、论述题",
        "9．论述保护环境的意义。",
    ]
    for line in lines:
        if line == "IMAGE":  # stem with an inline picture, as teachers paste graphs
            para = doc.add_paragraph("2、函数 y=x² 的图像如图所示，其顶点是")
            para.add_run().add_picture(io.BytesIO(_png()), width=Cm(2))
        else:
            doc.add_paragraph(line)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_chinese_layout_types_keys_points_images() -> None:
    res = read_items("期中.docx", _chinese_paper())
    assert Counter(d.type for d in res.drafts) == {
        "single_choice": 2,
        "multiple_choice": 1,
        "true_false": 2,
        "fill_blank": 1,
        "short_answer": 1,
        "essay": 1,
    }
    by_no = {d.source_id: d for d in res.drafts}
    q1 = by_no["docx-1"]
    assert q1.key == "B" and q1.points == 3.0 and [o["text"] for o in q1.options] == ["y=2x+1", "y=x²", "y=1/x", "y=√x"]
    assert q1.explanation == "形如 y=ax²+bx+c（a≠0）的函数是二次函数。"
    q2 = by_no["docx-2"]
    assert q2.key == "A" and '<img src="asset:image1.png">' in q2.stem and q2.assets["image1.png"].mime == "image/png"
    assert by_no["docx-4"].key == ["A", "C", "D"] and by_no["docx-4"].points == 4.0
    assert by_no["docx-5"].key is True and by_no["docx-5"].stem == "三角形的内角和是180°。"
    assert by_no["docx-6"].key is False
    q7 = by_no["docx-7"]
    assert q7.stem == "中国的首都是____，最大的城市是____。" and [b["accepted"] for b in q7.key] == [["北京"], ["上海"]]
    assert (
        by_no["docx-8"].key == {"reference": "直角三角形两直角边的平方和等于斜边的平方。"}
        and by_no["docx-8"].points == 10
    )
    assert by_no["docx-9"].type == "essay" and by_no["docx-9"].key is None
    assert res.rejected == [{"item": "docx-3", "reason": "question 3: answer 'E' does not name options ABCD"}]


def test_round_trip_in_both_languages() -> None:
    first = read_items("期中.docx", _chinese_paper()).drafts
    for locale in ("zh", "en"):
        again = read_items("again.docx", write_items("docx", first, locale=locale))
        assert not again.rejected
        assert [(d.type, d.stem, d.options, d.key, d.points, d.explanation) for d in again.drafts] == [
            (d.type, d.stem, d.options, d.key, d.points, d.explanation) for d in first
        ]
        assert again.drafts[1].assets["image1.png"].data == _png()


def test_templates_read_back_in_both_languages() -> None:
    for locale, heading in (("zh", "一、单项选择题"), ("en", "Part I Multiple choice")):
        data = word_template(locale)
        assert heading in "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
        res = read_items("template.docx", data)
        assert not res.rejected
        assert [d.type for d in res.drafts] == [
            "single_choice",
            "multiple_choice",
            "true_false",
            "fill_blank",
            "short_answer",
            "essay",
        ]


def test_english_layout_with_unnumbered_headings() -> None:
    doc = docx.Document()
    for line in [
        "Unit 3 quiz",
        "Multiple Choice Questions (2 points each)",
        "1. Which planet is largest?",
        "A. Mars  B. Jupiter  C. Venus",
        "Answer: B",
        "Explanation: Jupiter is a gas giant.",
        "True or False",
        "2. The Moon is a planet.",
        "Answer: False",
        "Fill in the blanks",
        "3. Water boils at ____ degrees Celsius at sea level.",
        "Answer: 100",
        "Essay",
        "4. Describe the water cycle.",
    ]:
        doc.add_paragraph(line)
    buf = io.BytesIO()
    doc.save(buf)
    res = read_items("quiz.docx", buf.getvalue())
    assert [(d.type, d.key, d.points) for d in res.drafts] == [
        ("single_choice", "B", 2.0),
        ("true_false", False, 1.0),
        ("fill_blank", [{"accepted": ["100"], "numeric": False, "tolerance": 0}], 1.0),
        ("essay", None, 1.0),
    ]
    assert res.drafts[0].explanation == "Jupiter is a gas giant." and res.drafts[0].options[2]["text"] == "Venus"
