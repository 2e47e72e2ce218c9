"""Word (.docx) items in the layout Chinese teachers use, and its English equivalent: reader, writer, template.

Layout: section headings by item type ("一、单项选择题（每题2分）", "二、多项选择题", "判断题", "填空题",
"简答题", "论述题"; "Part I Multiple choice", "True/False", ...), numbered stems ("1." "1、" "1．" "（1）"),
options on their own lines or several per line ("A．…  B．…", full- or half-width dots or 、), answers
("【答案】" "答案：" "Answer:"), explanations ("【解析】" "解析：" "Explanation:"), blanks as `____`, underlined
spaces or "（  ）", and inline images (-> item assets). Items outside any section get their type from their shape.
PURE (python-docx only).
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from typing import Any

from itembank.formats.model import BLANK, Asset, FormatError, ImportResult, ItemDraft

# Section names -> canonical type. Checked in order: "多项选择" before "选择".
_SECTIONS: list[tuple[str, str]] = [
    (r"多项选择|多选|不定项", "multiple_choice"),
    (r"单项选择|单选|选择题", "single_choice"),
    (r"判断", "true_false"),
    (r"填空", "fill_blank"),
    (r"数值|计算", "numerical"),
    (r"配对|连线|匹配", "matching"),
    (r"排序", "ordering"),
    (r"简答|问答", "short_answer"),
    (r"论述|作文|解答|综合", "essay"),
    (r"multiple[- ]?(answer|response|select)|select all", "multiple_choice"),
    (r"(multiple|single)[- ]choice", "single_choice"),
    (r"true\s*(/|or|and)\s*false|true-false", "true_false"),
    (r"fill[- ]in|blank", "fill_blank"),
    (r"numerical|numeric", "numerical"),
    (r"matching", "matching"),
    (r"ordering|sequenc", "ordering"),
    (r"short[- ]answer", "short_answer"),
    (r"essay", "essay"),
]
_HEADING = re.compile(
    r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|第[一二三四五六七八九十\d]+部分|(?:part|section)\s+[ivx\d]+[.:]?|[ivx]+\s*[.．])\s*(.{2,40})$",
    flags=re.I,
)
_POINTS = re.compile(
    r"每(?:小)?题\s*(\d+(?:\.\d+)?)\s*分|(\d+(?:\.\d+)?)\s*points?\s+each|each\s+(\d+(?:\.\d+)?)\s*points?", flags=re.I
)
# "1.5" is a number, not item 1; full-width "．" and "、" are never decimal points.
_STEM = re.compile(r"^\s*(?:(\d{1,3})\s*(?:\.(?!\d)|[．、])|[（(](\d{1,3})[)）])\s*(.*)$", flags=re.S)
_OPTION_START = re.compile(r"^\s*([A-H])\s*[.．、]\s*")
_OPTION_SPLIT = re.compile(r"(?:^|\s+)([A-H])\s*[.．、]\s*")
_MATCH_OPTION = re.compile(r"^\s*(\d{1,2}|[a-h])\s*[.．、)）]\s*(.*)$")
_ANSWER = re.compile(r"^\s*(?:【答案】|答案\s*[:：]|(?:answer|key)\s*[:：])\s*(.*)$", flags=re.I | re.S)
_EXPLAIN = re.compile(r"^\s*(?:【解析】|解析\s*[:：]|(?:explanation|solution)\s*[:：])\s*(.*)$", flags=re.I | re.S)
_BLANKS = re.compile(r"_{2,}|[（(][\s\u3000]+[)）]")
_TRUE = {"√", "✓", "✔", "对", "正确", "是", "t", "true", "yes", "y", "right", "correct"}
_FALSE = {"×", "✗", "✘", "x", "错", "错误", "否", "f", "false", "no", "n", "wrong", "incorrect"}
_IMG = re.compile(r"\x00(\d+)\x00")

_LABELS = {
    "zh": {
        "single_choice": "单项选择题",
        "multiple_choice": "多项选择题",
        "true_false": "判断题",
        "fill_blank": "填空题",
        "numerical": "数值题",
        "matching": "配对题",
        "ordering": "排序题",
        "short_answer": "简答题",
        "essay": "论述题",
        "answer": "【答案】",
        "explain": "【解析】",
        "true": "√",
        "false": "×",
        "title": "试题导入模板",
        "points": "（每题{p:g}分）",
    },
    "en": {
        "single_choice": "Multiple choice",
        "multiple_choice": "Multiple answer",
        "true_false": "True/False",
        "fill_blank": "Fill in the blanks",
        "numerical": "Numerical",
        "matching": "Matching",
        "ordering": "Ordering",
        "short_answer": "Short answer",
        "essay": "Essay",
        "answer": "Answer: ",
        "explain": "Explanation: ",
        "true": "True",
        "false": "False",
        "title": "Item import template",
        "points": " ({p:g} points each)",
    },
}
_ZH_NUM = "一二三四五六七八九十"
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]


@dataclass
class _Raw:
    number: str
    section: str | None
    points: float | None
    stem: list[str] = field(default_factory=list)
    options: list[list[str]] = field(default_factory=list)  # [label, text]
    answer: list[str] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    mode: str = "stem"


def _paragraph_text(p: Any, images: list[tuple[Any, str]]) -> str:
    """Paragraph text with underlined blank runs as `____` and inline images as \\x00n\\x00 markers."""
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    parts: list[str] = []
    for r in p.iter(f"{w}r"):
        underline = r.find(f"{w}rPr/{w}u")
        under = underline is not None and underline.get(f"{w}val", "single") != "none"
        for child in r:
            tag = child.tag
            if tag == f"{w}t":
                text = child.text or ""
                parts.append(BLANK if under and text.strip() in ("", "\u3000") and text else text)
            elif tag == f"{w}tab":
                parts.append(" ")
            elif tag in (f"{w}br", f"{w}cr"):
                parts.append("\n")
            elif tag.endswith("}drawing") or tag.endswith("}pict"):
                for blip in child.iter("{http://schemas.openxmlformats.org/drawingml/2006/main}blip"):
                    rid = blip.get("{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed")
                    if rid:
                        parts.append(f"\x00{len(images)}\x00")
                        images.append((rid, ""))  # resolved by the caller, which has the document part
    return re.sub(f"(?:{re.escape(BLANK)})+", BLANK, "".join(parts))


def _html(lines: list[str], images: list[tuple[bytes, str]], assets: dict[str, Asset]) -> str:
    def img(m: re.Match[str]) -> str:
        data, mime = images[int(m.group(1))]
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/svg+xml": "svg"}.get(mime, "bin")
        name = f"image{len(assets) + 1}.{ext}"
        assets[name] = Asset(data, mime)
        return f'<img src="asset:{name}">'

    text = "<br>".join(html.escape(ln.strip(), quote=False) for ln in lines if ln.strip())
    return _IMG.sub(img, text)


def _section_type(text: str, bare_ok: bool = True) -> tuple[str | None, float | None] | None:
    """(type, points per item) for a section heading line; type None for a heading naming no item type."""
    m = _HEADING.match(text)
    if m:
        title = m.group(1)
    else:  # an unnumbered heading counts only when it is nothing but a section name ("判断题", "Essay questions")
        if not bare_ok:
            return None
        title = text.strip()
        bare = re.sub(r"[（(][^）)]*[)）]|[:：]\s*$", "", title).strip()
        if (
            len(bare) > 30
            or re.search(r"[.?!。？！_]", bare)
            or not any(re.search(pattern, bare, flags=re.I) for pattern, _ in _SECTIONS)
        ):
            return None
    pm = _POINTS.search(title)
    pts = next((float(g) for g in pm.groups() if g), None) if pm else None
    for pattern, kind in _SECTIONS:
        if re.search(pattern, title, flags=re.I):
            return kind, pts
    return None, pts


def _split_options(text: str) -> list[list[str]]:
    pieces = _OPTION_SPLIT.split(text)
    return [[pieces[i], pieces[i + 1].strip()] for i in range(1, len(pieces) - 1, 2)]


def _bool(text: str) -> bool | None:
    t = text.strip().strip("。.").lower()
    return True if t in _TRUE else False if t in _FALSE else None


def _build(raw: _Raw, seq: int, images: list[tuple[bytes, str]]) -> ItemDraft:
    assets: dict[str, Asset] = {}
    points = raw.points
    stem_lines = list(raw.stem)
    if pm := re.match(r"^\s*[（(]\s*(\d+(?:\.\d+)?)\s*(?:分|points?)\s*[)）]\s*", stem_lines[0], flags=re.I):
        points, stem_lines[0] = float(pm.group(1)), stem_lines[0][pm.end() :]
    blanked = [_BLANKS.sub(BLANK, ln) for ln in stem_lines]
    answer = " ".join(raw.answer).strip()
    kind = raw.section
    letters_in_answer = re.sub(r"[\s,，、;；]", "", answer)
    if kind is None:  # no section heading: infer the type from the item's shape
        if raw.options and re.fullmatch(r"[A-H]+", letters_in_answer):
            kind = "single_choice" if len(letters_in_answer) == 1 else "multiple_choice"
        elif _bool(answer) is not None and not raw.options:
            kind = "true_false"
        elif any(BLANK in ln for ln in blanked):
            kind = "fill_blank"
        else:
            kind = "short_answer"
    common: dict[str, Any] = {
        "source_id": f"docx-{seq}",
        "points": points or 1.0,
        "explanation": _html(raw.explanation, images, assets) or None,
    }
    fields: dict[str, Any]
    if kind in ("single_choice", "multiple_choice", "ordering"):
        if len(raw.options) < 2:
            raise ValueError(f"question {raw.number}: a {kind} item needs at least two options 'A．…'")
        options = [{"key": lab, "text": _html([t], images, assets)} for lab, t in raw.options]
        keys = [o["key"] for o in options]
        chosen = list(letters_in_answer)
        if not chosen or any(c not in keys for c in chosen):
            raise ValueError(f"question {raw.number}: answer {answer!r} does not name options {''.join(keys)}")
        if kind == "single_choice" and len(chosen) != 1:
            raise ValueError(f"question {raw.number}: single choice answer {answer!r} names {len(chosen)} options")
        if kind == "ordering" and sorted(chosen) != sorted(keys):
            raise ValueError(f"question {raw.number}: ordering answer {answer!r} must name every option once")
        key: Any = chosen[0] if kind == "single_choice" else (sorted(chosen) if kind == "multiple_choice" else chosen)
        fields = {"type": kind, "options": options, "key": key}
    elif kind == "true_false":
        value = _bool(answer)
        if value is None:
            raise ValueError(f"question {raw.number}: true/false answer {answer!r} is not √/×, 对/错 or True/False")
        stem_lines[-1] = re.sub(rf"\s*(?:[（(][\s\u3000]*[)）]|{BLANK})\s*$", "", stem_lines[-1])
        fields = {"type": "true_false", "key": value}
    elif kind == "fill_blank":
        stem_lines = blanked
        n = sum(ln.count(BLANK) for ln in stem_lines)
        parts = [p.strip() for p in re.split(r"[;；|]|\s{2,}", answer) if p.strip()]
        if n == 0:
            raise ValueError(f"question {raw.number}: a fill-in-the-blank stem needs blanks (____ or （  ）)")
        if len(parts) != n and not (n == 1 and parts):
            raise ValueError(
                f"question {raw.number}: {n} blanks but {len(parts)} answers {answer!r} (separate answers with ；)"
            )
        blanks = [parts] if n == 1 and len(parts) > 1 else [[p] for p in parts]
        fields = {
            "type": "fill_blank",
            "settings": {"case_sensitive": False, "order_free": False},
            "key": [{"accepted": b, "numeric": False, "tolerance": 0} for b in blanks],
        }
    elif kind == "numerical":
        m = re.fullmatch(
            r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(?:(?:±|\+/-|\+-)\s*(\d+(?:\.\d+)?))?\s*(.*)", answer
        )
        if not m:
            raise ValueError(f"question {raw.number}: numerical answer {answer!r} is not 'value [± tolerance] [unit]'")
        fields = {
            "type": "numerical",
            "key": {
                "value": float(m.group(1)),
                "tolerance": float(m.group(2) or 0),
                "units": [m.group(3).strip()] if m.group(3).strip() else [],
            },
        }
    elif kind == "matching":
        options = []
        for lab, text in raw.options:
            options.append(
                {"key": lab, "text": _html([text], images, assets), "side": "left" if lab.isdigit() else "right"}
            )
        pairs = re.findall(r"(\d{1,2})\s*[-–—→>]*\s*([a-h])", answer)
        if not pairs:
            raise ValueError(f"question {raw.number}: matching answer {answer!r} is not like '1-a，2-c'")
        fields = {"type": "matching", "options": options, "key": dict(pairs)}
    else:
        fields = {"type": kind, "key": {"reference": _html(raw.answer, images, assets)} if answer else None}
    return ItemDraft(stem=_html(stem_lines, images, assets), assets=assets, **common, **fields)


def read_docx(data: bytes) -> ImportResult:
    """Read items from a Word document in the teachers' layout (see the module docstring)."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    from itembank.formats.safety import read_zip

    read_zip(data, "Word document")  # size, ratio and path checks before python-docx opens it
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise FormatError(f"not a readable Word document ({exc})") from exc
    result = ImportResult()
    images: list[tuple[Any, str]] = []
    raws: list[_Raw] = []
    section: str | None = None
    points: float | None = None
    current: _Raw | None = None
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    body = document.element.body
    if body.find(f"{w}tbl") is not None:
        result.warnings.append("tables in the document are not read; put items in plain paragraphs")
    for p in body.iterchildren(f"{w}p"):
        text = _paragraph_text(p, images)
        if not text.strip():
            continue
        for line in text.split("\n"):
            if not line.strip():
                continue
            structural = _STEM.match(line) or _OPTION_START.match(line) or _ANSWER.match(line) or _EXPLAIN.match(line)
            # Unnumbered headings are only looked for between items, never inside a stem or its options.
            between = current is None or current.mode in ("answer", "explain")
            sec = None if structural else _section_type(line, bare_ok=between)
            if sec is not None:
                section, points = sec
                current = None
                continue
            if (m := _ANSWER.match(line)) and current is not None:
                current.answer.append(m.group(1))
                current.mode = "answer"
                continue
            if (m := _EXPLAIN.match(line)) and current is not None:
                current.explanation.append(m.group(1))
                current.mode = "explain"
                continue
            matching = section == "matching"
            if current is not None and current.mode in ("stem", "options"):
                if matching and (mo := _MATCH_OPTION.match(line)) and current.stem:
                    current.options.append([mo.group(1), mo.group(2).strip()])
                    current.mode = "options"
                    continue
                if not matching and _OPTION_START.match(line):
                    current.options.extend(_split_options(line))
                    current.mode = "options"
                    continue
            if (m := _STEM.match(line)) and not (
                matching and current is not None and current.mode == "options" and not current.answer
            ):
                current = _Raw(m.group(1) or m.group(2), section, points, stem=[m.group(3)])
                raws.append(current)
                continue
            if current is None:
                continue  # title lines and instructions before the first item
            if current.mode == "stem":
                current.stem.append(line)
            elif current.mode == "options":
                current.options[-1][1] += " " + line.strip()
            elif current.mode == "answer":
                current.answer.append(line)
            else:
                current.explanation.append(line)
    part = document.part
    for i, (rid, _) in enumerate(images):
        target = part.related_parts.get(rid)
        images[i] = (target.blob, target.content_type) if target is not None else (b"", "application/octet-stream")
    for seq, raw in enumerate(raws, start=1):
        if not raw.answer and raw.section not in ("short_answer", "essay"):
            result.rejected.append(
                {"item": f"docx-{seq}", "reason": f"question {raw.number}: no answer line (【答案】/答案：/Answer:)"}
            )
            continue
        try:
            result.drafts.append(_build(raw, seq, images))
        except ValueError as exc:
            result.rejected.append({"item": f"docx-{seq}", "reason": str(exc)})
    if not raws:
        raise FormatError(
            "no numbered questions found (expected lines like '1．…' under headings like '一、单项选择题')"
        )
    return result


# --- writing ------------------------------------------------------------------------------------------------


def _segments(html_text: str) -> list[list[tuple[str, str]]]:
    """Item HTML as lines of ("text", s) / ("img", name) segments."""
    text = re.sub(r"<br\s*/?>|</p>\s*<p[^>]*>|</div>\s*<div[^>]*>", "\n", html_text or "")
    lines = []
    for line in text.split("\n"):
        segs: list[tuple[str, str]] = []
        pos = 0
        for m in re.finditer(r"<img[^>]*src=\"asset:([^\"]+)\"[^>]*>", line):
            segs.append(("text", line[pos : m.start()]))
            segs.append(("img", html.unescape(m.group(1))))
            pos = m.end()
        segs.append(("text", line[pos:]))
        segs = [(k, html.unescape(re.sub(r"<[^>]+>", "", v)) if k == "text" else v) for k, v in segs]
        if any(v.strip() for k, v in segs if k == "text") or any(k == "img" for k, _ in segs):
            lines.append(segs)
    return lines


def _add(doc: Any, prefix: str, html_text: str, assets: dict[str, Asset]) -> None:
    from docx.shared import Cm

    lines = _segments(html_text) or [[("text", "")]]
    for n, segs in enumerate(lines):
        para = doc.add_paragraph()
        if n == 0 and prefix:
            para.add_run(prefix)
        for kind, value in segs:
            if kind == "text":
                para.add_run(value)
            elif value in assets:
                para.add_run().add_picture(io.BytesIO(assets[value].data), width=Cm(4))


def _answer_text(d: ItemDraft, lab: dict[str, str]) -> str:
    if d.type == "single_choice":
        return str(d.key)
    if d.type in ("multiple_choice", "ordering"):
        return "".join(d.key or [])
    if d.type == "true_false":
        return lab["true"] if d.key else lab["false"]
    if d.type == "fill_blank":
        return "；".join(" ".join(b["accepted"][:1]) if len(d.key) > 1 else "；".join(b["accepted"]) for b in d.key)
    if d.type == "numerical":
        k = d.key
        tol = f" ± {float(k['tolerance']):g}" if k.get("tolerance") else ""
        return f"{float(k['value']):g}{tol}" + (f" {k['units'][0]}" if k.get("units") else "")
    if d.type == "matching":
        return "，".join(f"{a}-{b}" for a, b in (d.key or {}).items())
    return (d.key or {}).get("reference", "") if isinstance(d.key, dict) else ""


def write_docx(drafts: list[ItemDraft], locale: str = "zh", title: str = "") -> bytes:
    """Write drafts as a Word document in the layout read_docx reads, sections in canonical type order."""
    import docx

    from itembank.formats.model import CANONICAL_TYPES

    lab = _LABELS["en" if locale.startswith("en") else "zh"]
    doc = docx.Document()
    if title:
        doc.add_heading(title, level=1)
    number = 0
    present = [t for t in CANONICAL_TYPES if any(d.type == t for d in drafts)]
    for s, t in enumerate(present):
        items = [d for d in drafts if d.type == t]
        pts = {d.points for d in items}
        suffix = lab["points"].format(p=pts.pop()) if len(pts) == 1 else ""
        zh = lab is _LABELS["zh"]
        head = f"{_ZH_NUM[s % 10]}、{lab[t]}{suffix}" if zh else f"Part {_ROMAN[s % 10]} {lab[t]}{suffix}"
        doc.add_heading(head, level=2)
        for d in items:
            number += 1
            own = "" if suffix else (f"（{d.points:g}分）" if lab is _LABELS["zh"] else f"({d.points:g} points) ")
            _add(doc, (f"{number}．" if lab is _LABELS["zh"] else f"{number}. ") + own, d.stem, d.assets)
            for o in d.options:
                _add(doc, f"{o['key']}．" if lab is _LABELS["zh"] else f"{o['key']}. ", o["text"], d.assets)
            ans = _answer_text(d, lab)
            if ans or d.type not in ("short_answer", "essay"):
                _add(
                    doc,
                    lab["answer"],
                    html.escape(ans, quote=False) if d.type not in ("short_answer", "essay") else ans,
                    d.assets,
                )
            if d.explanation:
                _add(doc, lab["explain"], d.explanation, d.assets)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def word_template(locale: str = "zh") -> bytes:
    """A downloadable example document in the layout read_docx reads (Chinese or English)."""
    en = locale.startswith("en")
    drafts = [
        ItemDraft(
            "t1",
            "single_choice",
            "What is 2 + 3?" if en else "2 + 3 等于多少？",
            options=[{"key": k, "text": v} for k, v in zip("ABCD", ["4", "5", "6", "7"], strict=True)],
            key="B",
            points=2,
            explanation="2 + 3 = 5",
        ),
        ItemDraft(
            "t2",
            "multiple_choice",
            "Which numbers are even?" if en else "下列数中哪些是偶数？",
            options=[{"key": k, "text": v} for k, v in zip("ABCD", ["2", "3", "4", "5"], strict=True)],
            key=["A", "C"],
            points=3,
        ),
        ItemDraft("t3", "true_false", "A triangle has three sides." if en else "三角形有三条边。", key=True),
        ItemDraft(
            "t4",
            "fill_blank",
            f"The capital of China is {BLANK}." if en else f"中国的首都是{BLANK}。",
            key=[{"accepted": ["Beijing" if en else "北京"], "numeric": False, "tolerance": 0}],
            settings={"case_sensitive": False, "order_free": False},
        ),
        ItemDraft(
            "t5",
            "short_answer",
            "Explain what a prime number is." if en else "简述什么是质数。",
            key={
                "reference": "A number greater than 1 with no divisors but 1 and itself."
                if en
                else "大于 1 且只有 1 和它本身两个因数的自然数。"
            },
            points=5,
        ),
        ItemDraft(
            "t6",
            "essay",
            "Write about your favourite book." if en else "以“我最喜欢的一本书”为题写一篇短文。",
            points=20,
        ),
    ]
    return write_docx(drafts, locale="en" if en else "zh", title=_LABELS["en" if en else "zh"]["title"])
