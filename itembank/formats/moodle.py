"""Moodle XML question export format: reader and writer (PURE).

Categories (`$course$/top/A/B`) become knowledge point paths ("A/B"); embedded base64 files referenced as
`@@PLUGINFILE@@/name` become item assets referenced as `asset:name`. Cloze (multianswer) questions become
fill_blank items when every subquestion is SHORTANSWER, NUMERICAL or MULTICHOICE; other question and subquestion
types are rejected with a reason naming them.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import urllib.parse
from typing import Any

from lxml import etree

from itembank.formats.model import BLANK, Asset, FormatError, ImportResult, ItemDraft, letters, text_to_html
from itembank.formats.safety import parse_xml

_PLUGIN = "@@PLUGINFILE@@/"
_CLOZE = re.compile(r"\{(\d*):([A-Z_]+):((?:\\.|[^}\\])*)\}")
_CLOZE_TYPES = {
    "SHORTANSWER": "short",
    "SA": "short",
    "MW": "short",
    "SHORTANSWER_C": "short_c",
    "SAC": "short_c",
    "MWC": "short_c",
    "NUMERICAL": "num",
    "NM": "num",
    "MULTICHOICE": "mc",
    "MC": "mc",
    "MULTICHOICE_V": "mc",
    "MCV": "mc",
    "MULTICHOICE_H": "mc",
    "MCH": "mc",
    "MULTICHOICE_S": "mc",
    "MCS": "mc",
    "MULTICHOICE_VS": "mc",
    "MCVS": "mc",
    "MULTICHOICE_HS": "mc",
    "MCHS": "mc",
}


class _Reject(ValueError):
    pass


def _txt(el: etree._Element | None, path: str = "text") -> str:
    if el is None:
        return ""
    node = el.find(path) if path else el
    return (node.text or "") if node is not None else ""


def _html(el: etree._Element | None) -> str:
    """A Moodle rich-text element (<questiontext format=...><text>...</text>) as HTML."""
    if el is None:
        return ""
    return text_to_html(_txt(el), el.get("format", "html"))


def _files(q: etree._Element, qname: str) -> dict[str, Asset]:
    out: dict[str, Asset] = {}
    for f in q.iter("file"):
        name = f.get("name") or ""
        if not name:
            continue
        if f.get("encoding", "base64") != "base64":
            raise _Reject(f"file {name!r} uses encoding {f.get('encoding')!r}, not base64")
        try:
            data = base64.b64decode((f.text or "").strip(), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _Reject(f"file {name!r} is not valid base64") from exc
        out[name] = Asset(data, mimetypes.guess_type(name)[0] or "application/octet-stream")
    return out


def _assets_in(html: str) -> str:
    def repl(m: re.Match[str]) -> str:
        return "asset:" + urllib.parse.unquote(m.group(1))

    return re.sub(re.escape(_PLUGIN) + r"([^\"'\s>]+)", repl, html)


def _category_path(text: str) -> str:
    parts = [p for p in text.split("/") if p]
    if parts and parts[0].startswith("$") and parts[0].endswith("$"):
        parts = parts[1:]
    if parts and parts[0] == "top":
        parts = parts[1:]
    return "/".join(p.strip() for p in parts if p.strip())


def _fraction(a: etree._Element) -> float:
    return float(a.get("fraction", "0") or 0) / 100


def _cloze_answers(body: str) -> list[tuple[float, str]]:
    """`=a#fb~%50%b` -> [(1.0, "a"), (0.5, "b")]; escapes \\~ \\# \\} \\/ \\" \\\\ are honoured."""
    out: list[tuple[float, str]] = []
    for raw in re.split(r"(?<!\\)~", body):
        raw = re.split(r"(?<!\\)#", raw, maxsplit=1)[0]
        weight = 0.0
        if raw.startswith("="):
            weight, raw = 1.0, raw[1:]
        elif m := re.match(r"^%(-?[\d.]+)%", raw):
            weight, raw = float(m.group(1)) / 100, raw[m.end() :]
        text = re.sub(r"\\(.)", r"\1", raw).strip()
        if text or weight:
            out.append((weight, text))
    return out


def _cloze(stem: str, qname: str, warnings: list[str]) -> tuple[str, list[dict[str, Any]], bool]:
    blanks: list[dict[str, Any]] = []
    case = False

    def repl(m: re.Match[str]) -> str:
        nonlocal case
        kind = _CLOZE_TYPES.get(m.group(2))
        if kind is None:
            raise _Reject(f"cloze subquestion type {m.group(2)} in question {qname} is not supported")
        answers = _cloze_answers(m.group(3))
        right = [t for w, t in answers if w >= 1]
        if not right:
            raise _Reject(f"cloze subquestion {len(blanks) + 1} in question {qname} has no 100% answer")
        if any(0 < w < 1 for w, _ in answers):
            warnings.append(
                f"question {qname}: partial-credit answers of cloze subquestion {len(blanks) + 1} "
                "are not kept (only 100% answers)"
            )
        blank: dict[str, Any] = {"accepted": right, "numeric": False, "tolerance": 0}
        if kind == "num":
            values = [r.partition(":") for r in right]
            blank = {"accepted": [v for v, _, _ in values], "numeric": True, "tolerance": float(values[0][2] or 0)}
        elif kind == "mc":
            blank["choices"] = [t for _, t in answers]
        case |= kind == "short_c"
        if m.group(1) and int(m.group(1)) != 1:
            blank["points"] = float(m.group(1))
        blanks.append(blank)
        return BLANK

    return _CLOZE.sub(repl, stem), blanks, case


def _question(q: etree._Element, qtype: str, qname: str, warnings: list[str]) -> dict[str, Any]:
    stem = _assets_in(_html(q.find("questiontext")))
    answers = q.findall("answer")
    fields: dict[str, Any] = {}
    if qtype == "multichoice":
        single = _txt(q, "single").strip().lower() in ("true", "1")
        labels = letters(len(answers))
        options = [{"key": lab, "text": _assets_in(_html(a))} for lab, a in zip(labels, answers, strict=True)]
        fracs = {lab: _fraction(a) for lab, a in zip(labels, answers, strict=True)}
        if single:
            best = max(fracs.values(), default=0)
            if best <= 0:
                raise _Reject(f"multichoice question {qname} has no answer with a positive grade")
            key: Any = next(k for k, v in fracs.items() if v == best)
            partial = any(0 < v < 1 for v in fracs.values()) or any(v < 0 for v in fracs.values())
        else:
            key = [k for k, v in fracs.items() if v > 0]
            if not key:
                raise _Reject(f"multichoice question {qname} has no answer with a positive grade")
            partial = True
        fields = {
            "type": "single_choice" if single else "multiple_choice",
            "options": options,
            "key": key,
            "settings": {"scoring": "weights", "weights": fracs} if partial else {},
        }
    elif qtype == "truefalse":
        right = [a for a in answers if _fraction(a) >= 1]
        if not right:
            raise _Reject(f"truefalse question {qname} has no 100% answer")
        fields = {"type": "true_false", "key": _txt(right[0]).strip().lower() in ("true", "1", "正确", "对")}
    elif qtype == "shortanswer":
        accepted = [_txt(a).strip() for a in answers if _fraction(a) >= 1]
        if not accepted:
            raise _Reject(f"shortanswer question {qname} has no 100% answer")
        if any(0 < _fraction(a) < 1 for a in answers):
            warnings.append(f"question {qname}: partial-credit short answers are not kept (only 100% answers)")
        settings: dict[str, Any] = {"case_sensitive": _txt(q, "usecase").strip() == "1", "order_free": False}
        if any("*" in a for a in accepted):
            settings["wildcards"] = True  # Moodle's * matches any run of characters
        fields = {
            "type": "fill_blank",
            "key": [{"accepted": accepted, "numeric": False, "tolerance": 0}],
            "settings": settings,
        }
    elif qtype == "numerical":
        right = [a for a in answers if _fraction(a) >= 1 and _txt(a).strip() != "*"]
        if not right:
            raise _Reject(f"numerical question {qname} has no 100% answer")
        units = []
        for u in q.iter("unit"):
            mult = float(_txt(u, "multiplier") or 1)
            name = _txt(u, "unit_name").strip()
            if mult == 1 and name:
                units.append(name)
            elif name:
                warnings.append(f"question {qname}: unit {name!r} with multiplier {mult:g} is not kept")
        try:
            value = float(_txt(right[0]).strip())
        except ValueError as exc:
            raise _Reject(f"numerical question {qname}: answer {_txt(right[0])!r} is not a number") from exc
        fields = {
            "type": "numerical",
            "key": {"value": value, "tolerance": float(_txt(right[0], "tolerance") or 0), "units": units},
        }
    elif qtype == "essay":
        lines = int(_txt(q, "responsefieldlines") or 15)
        ref = _html(q.find("graderinfo"))
        fields = {"type": "short_answer" if lines <= 3 else "essay", "key": {"reference": ref} if ref else None}
    elif qtype == "matching":
        subs = q.findall("subquestion")
        left = [s for s in subs if _txt(s).strip()]
        rights = list(dict.fromkeys(_txt(s.find("answer")).strip() for s in subs))
        right_keys = {t: lab.lower() for t, lab in zip(rights, letters(len(rights)), strict=True)}
        options = [{"key": str(n + 1), "text": _assets_in(_html(s)), "side": "left"} for n, s in enumerate(left)]
        options += [{"key": right_keys[t], "text": t, "side": "right"} for t in rights]
        fields = {
            "type": "matching",
            "options": options,
            "key": {str(n + 1): right_keys[_txt(s.find("answer")).strip()] for n, s in enumerate(left)},
        }
    elif qtype == "cloze":
        stem, blanks, case = _cloze(stem, qname, warnings)
        if not blanks:
            raise _Reject(f"cloze question {qname} has no subquestions")
        fields = {"type": "fill_blank", "key": blanks, "settings": {"case_sensitive": case, "order_free": False}}
    else:
        raise _Reject(f"question type {qtype} ({qname}) is not supported")
    return {"stem": stem, **fields}


def read_moodle(data: bytes) -> ImportResult:
    """Read a Moodle XML export: each question becomes a draft or a rejection naming its type and name."""
    result = ImportResult()
    root = parse_xml(data, "Moodle XML", result.warnings)
    if etree.QName(root).localname != "quiz":
        raise FormatError(f"Moodle XML root element is <{root.tag}>, not <quiz>")
    category = ""
    seen: set[str] = set()
    for n, q in enumerate(root.iterfind("question"), start=1):
        qtype = q.get("type", "")
        if qtype == "category":
            category = _category_path(_txt(q.find("category")))
            continue
        name = _txt(q.find("name")).strip() or f"question {n}"
        if qtype == "description":
            result.warnings.append(f"description {name!r} skipped (it is not a question)")
            continue
        source_id = _txt(q, "idnumber").strip() or name
        while source_id in seen:
            source_id += "#"
        seen.add(source_id)
        try:
            fields = _question(q, qtype, name, result.warnings)
            draft = ItemDraft(
                source_id=source_id,
                points=float(_txt(q, "defaultgrade") or 1),
                knowledge_points=[category] if category else [],
                explanation=_assets_in(_html(q.find("generalfeedback"))) or None,
                tags=[_txt(t).strip() for t in q.iterfind("tags/tag") if _txt(t).strip()],
                assets=_files(q, name),
                **fields,
            )
        except (ValueError, TypeError) as exc:
            result.rejected.append(
                {"item": name, "reason": str(exc) if isinstance(exc, _Reject) else f"question {name}: {exc}"}
            )
            continue
        result.drafts.append(draft)
    return result


# --- writing ------------------------------------------------------------------------------------------------


def _text_el(parent: etree._Element, tag: str, html: str, d: ItemDraft | None = None, **attrs: str) -> None:
    el = etree.SubElement(parent, tag, format="html", **attrs)
    body = re.sub(r"(src=[\"'])asset:", r"\1" + _PLUGIN, html)
    etree.SubElement(el, "text").text = etree.CDATA(body) if body else ""
    if d is not None:
        for name, asset in d.assets.items():
            if f"asset:{name}" in html:
                f = etree.SubElement(el, "file", name=name, path="/", encoding="base64")
                f.text = base64.b64encode(asset.data).decode("ascii")


def _plain(parent: etree._Element, tag: str, text: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    el.text = text
    return el


def _cloze_escape(text: str) -> str:
    return re.sub(r"([}#~/\"\\])", r"\\\1", str(text))


def _cloze_stem(d: ItemDraft) -> str:
    blanks = list(d.key or [])
    case = bool(d.settings.get("case_sensitive"))

    def code(blank: dict[str, Any]) -> str:
        weight = "" if float(blank.get("points", 1)) == 1 else f"{float(blank['points']):g}"
        if blank.get("numeric"):
            tol = float(blank.get("tolerance") or 0)
            return f"{{{weight}:NUMERICAL:" + "~".join(f"={a}:{tol:g}" for a in blank["accepted"]) + "}"
        if blank.get("choices"):
            return (
                f"{{{weight}:MULTICHOICE:"
                + "~".join(("=" if c in blank["accepted"] else "") + _cloze_escape(c) for c in blank["choices"])
                + "}"
            )
        kind = "SHORTANSWER_C" if case else "SHORTANSWER"
        return f"{{{weight}:{kind}:" + "~".join("=" + _cloze_escape(a) for a in blank["accepted"]) + "}"

    parts = re.split(re.escape(BLANK) + "_*", d.stem)
    out = parts[0]
    for n, part in enumerate(parts[1:]):
        out += (code(blanks[n]) if n < len(blanks) else BLANK) + part
    for blank in blanks[len(parts) - 1 :]:
        out += " " + code(blank)
    return out


def write_moodle(drafts: list[ItemDraft], title: str = "") -> bytes:
    """Write drafts as Moodle XML; knowledge points become categories. Ordering items raise ValueError."""
    quiz = etree.Element("quiz")
    if title:  # Moodle XML has no title element; a comment keeps the name visible to whoever opens the file
        quiz.append(etree.Comment(" " + title.replace("--", "- -") + " "))
    category: str | None = None
    for d in drafts:
        kp = d.knowledge_points[0] if d.knowledge_points else ""
        if kp != category:
            category = kp
            cq = etree.SubElement(quiz, "question", type="category")
            _plain(etree.SubElement(cq, "category"), "text", "$course$/top" + (f"/{kp}" if kp else ""))
        qtype, stem = (
            {
                "single_choice": "multichoice",
                "multiple_choice": "multichoice",
                "true_false": "truefalse",
                "numerical": "numerical",
                "short_answer": "essay",
                "essay": "essay",
                "matching": "matching",
            }.get(d.type, ""),
            d.stem,
        )
        if d.type == "fill_blank":
            blanks = list(d.key or [])
            simple = (
                len(blanks) == 1
                and BLANK not in d.stem
                and not blanks[0].get("numeric")
                and not blanks[0].get("choices")
            )
            qtype = "shortanswer" if simple else "cloze"
            if not simple:
                stem = _cloze_stem(d)
        if not qtype:
            raise ValueError(f"item {d.source_id!r}: Moodle XML has no core question type for {d.type}")
        q = etree.SubElement(quiz, "question", type=qtype)
        _plain(etree.SubElement(q, "name"), "text", d.source_id)
        _text_el(q, "questiontext", stem, d)
        _text_el(q, "generalfeedback", d.explanation or "", d)
        _plain(q, "defaultgrade", f"{d.points:g}")
        _plain(q, "penalty", "0")
        _plain(q, "hidden", "0")
        _plain(q, "idnumber", d.source_id)
        if d.type in ("single_choice", "multiple_choice"):
            single = d.type == "single_choice"
            _plain(q, "single", "true" if single else "false")
            _plain(q, "shuffleanswers", "true")
            _plain(q, "answernumbering", "ABCD")
            weights = d.settings.get("weights") or {}
            keys = [d.key] if single else list(d.key or [])
            for o in d.options:
                if weights:
                    frac = float(weights.get(o["key"], 0))
                elif single:
                    frac = 1.0 if o["key"] in keys else 0.0
                else:
                    frac = 1 / len(keys) if o["key"] in keys else 0.0
                _text_el(q, "answer", o["text"], d, fraction=f"{frac * 100:.7g}")
        elif d.type == "true_false":
            for value in ("true", "false"):
                a = etree.SubElement(
                    q,
                    "answer",
                    fraction="100" if (value == "true") == bool(d.key) else "0",
                    format="moodle_auto_format",
                )
                _plain(a, "text", value)
        elif d.type == "fill_blank" and qtype == "shortanswer":
            _plain(q, "usecase", "1" if d.settings.get("case_sensitive") else "0")
            for acc in d.key[0]["accepted"]:
                _plain(etree.SubElement(q, "answer", fraction="100", format="moodle_auto_format"), "text", acc)
        elif d.type == "numerical":
            a = etree.SubElement(q, "answer", fraction="100", format="moodle_auto_format")
            _plain(a, "text", f"{float(d.key['value']):g}")
            _plain(a, "tolerance", f"{float(d.key.get('tolerance') or 0):g}")
            units = d.key.get("units") or []
            if units:
                us = etree.SubElement(q, "units")
                for u in units:
                    ue = etree.SubElement(us, "unit")
                    _plain(ue, "multiplier", "1")
                    _plain(ue, "unit_name", u)
                _plain(q, "showunits", "3")
        elif d.type in ("short_answer", "essay"):
            _plain(q, "responseformat", "editor")
            _plain(q, "responsefieldlines", "3" if d.type == "short_answer" else "15")
            ref = d.key.get("reference") if isinstance(d.key, dict) else None
            _text_el(q, "graderinfo", ref or "")
        elif d.type == "matching":
            rights = {o["key"]: o["text"] for o in d.options if o.get("side") == "right"}
            used = set()
            for o in d.options:
                if o.get("side") == "left":
                    target = rights.get((d.key or {}).get(o["key"], ""), "")
                    used.add(target)
                    sub = etree.SubElement(q, "subquestion", format="html")
                    etree.SubElement(sub, "text").text = etree.CDATA(o["text"])
                    _plain(etree.SubElement(sub, "answer"), "text", target)
            for text in rights.values():
                if text not in used:  # a distractor: a right-hand answer with no question
                    sub = etree.SubElement(q, "subquestion", format="html")
                    etree.SubElement(sub, "text").text = ""
                    _plain(etree.SubElement(sub, "answer"), "text", text)
        if d.tags:
            tags = etree.SubElement(q, "tags")
            for t in d.tags:
                _plain(etree.SubElement(tags, "tag"), "text", t)
    return etree.tostring(quiz, xml_declaration=True, encoding="UTF-8", pretty_print=True)
