"""Moodle GIFT format: reader and writer (PURE), after docs.moodle.org/en/GIFT_format.

Covers: comments `//`, `$CATEGORY:` (-> knowledge point), titles `::t::`, text formats `[html]` `[moodle]`
`[plain]` `[markdown]`, escapes `\\~ \\= \\# \\{ \\} \\: \\n`, multiple choice with `=`/`~` and weights `~%50%`
(one positive answer -> single_choice, several -> multiple_choice; weights -> settings), answer feedback `#`,
general feedback `####`, missing-word questions (text after the answer block -> a `____` blank in the stem),
true/false `{T}` `{TRUE}` `{F}` `{FALSE}` with feedback, short answer `{=a =b}` (-> fill_blank), matching
`{=a -> b}`, numerical `{#1.5:0.1}`, `{#1..2}` and several numerical answers `{# =1:0 =%50%2:1}`, essay `{}`.
Descriptions (no answer block) are skipped with a warning.
"""

from __future__ import annotations

import re
from typing import Any

from itembank.formats.model import BLANK, ImportResult, ItemDraft, decode_text, letters, text_to_html

# Escaped special characters are swapped for control characters before parsing and restored in each text.
_ESC = {
    "\\\\": "\x07",
    "\\~": "\x01",
    "\\=": "\x02",
    "\\#": "\x03",
    "\\{": "\x04",
    "\\}": "\x05",
    "\\:": "\x06",
    "\\n": "\n",
}
_UNESC = {"\x01": "~", "\x02": "=", "\x03": "#", "\x04": "{", "\x05": "}", "\x06": ":", "\x07": "\\"}
_FORMAT = re.compile(r"^\s*\[(html|moodle|plain|markdown)\]", flags=re.I)


def _unescape(s: str) -> str:
    for k, v in _UNESC.items():
        s = s.replace(k, v)
    return s


def _rich(s: str, default_fmt: str) -> str:
    """Text with an optional [format] prefix, as HTML."""
    m = _FORMAT.match(s)
    fmt = m.group(1).lower() if m else default_fmt
    body = _unescape(s[m.end() :] if m else s).strip()
    return text_to_html(body, "plain" if fmt == "moodle" else fmt)


def _answers(body: str) -> list[tuple[str, float | None, str]]:
    """`=a#fb ~%50%b` -> [("=", None, "a"), ("~", 50.0, "b")] (feedback dropped)."""
    out = []
    for marker, text in re.findall(r"([=~])([^=~]*)", body):
        text = text.split("#", 1)[0].strip()
        weight = None
        if m := re.match(r"^%(-?[\d.]+)%", text):
            weight, text = float(m.group(1)), text[m.end() :].strip()
        out.append((marker, weight, text))
    return out


def _number(text: str) -> dict[str, Any]:
    text = text.strip()
    if ".." in text:
        lo, hi = (float(x) for x in text.split("..", 1))
        return {"value": (lo + hi) / 2, "tolerance": (hi - lo) / 2, "units": []}
    value, _, tol = text.replace("\x06", ":").partition(":")
    return {"value": float(value), "tolerance": float(tol or 0), "units": []}


def _parse(qid: str, block: str, category: str | None, fmt: str, warnings: list[str]) -> ItemDraft:
    m = re.fullmatch(r"(.*?)\{(.*?)\}(.*)", block, flags=re.S)
    if m is None:
        raise ValueError("no answer block {...}")
    head, body, tail = m.group(1), m.group(2).strip(), m.group(3).strip()
    fm = _FORMAT.match(head)
    if fm:
        fmt, head = fm.group(1).lower(), head[fm.end() :]
    stem = _rich(head + (f" {BLANK} " + tail if tail else ""), fmt)
    if tail:
        stem = re.sub(rf"\s*{BLANK}\s*", f" {BLANK} ", stem).strip()
    explanation = None
    if "####" in body:
        body, general = body.split("####", 1)
        explanation = _rich(general, fmt) or None
        body = body.strip()
    common: dict[str, Any] = {
        "source_id": qid,
        "stem": stem,
        "explanation": explanation,
        "knowledge_points": [category] if category else [],
    }
    if body == "":
        return ItemDraft(type="essay", **common)
    if re.fullmatch(r"(T|F|TRUE|FALSE)\s*(#.*)?", body, flags=re.S):
        return ItemDraft(type="true_false", key=body.split("#")[0].strip().startswith("T"), **common)
    if body.startswith("#"):
        answers = _answers(body[1:])
        if not answers:
            return ItemDraft(type="numerical", key=_number(body[1:].split("#")[0]), **common)
        right = [t for _, w, t in answers if w is None or w >= 100]
        if any(w is not None and 0 < w < 100 for _, w, _ in answers):
            warnings.append(f"question {qid}: partial-credit numerical answers are not kept")
        if not right:
            raise ValueError("numerical question has no 100% answer")
        return ItemDraft(type="numerical", key=_number(right[0]), **common)
    answers = _answers(body)
    if not answers:
        raise ValueError(f"answer block {{{_unescape(body)}}} has no answers")
    if any("->" in t for _, _, t in answers):
        if any(mk != "=" or "->" not in t for mk, _, t in answers):
            raise ValueError("matching question: every answer must be '=left -> right'")
        pairs = [tuple(_unescape(x).strip() for x in t.split("->", 1)) for _, _, t in answers]
        rights = list(dict.fromkeys(r for _, r in pairs))
        rkeys = {r: lab.lower() for r, lab in zip(rights, letters(len(rights)), strict=True)}
        lefts = [(str(n + 1), lt) for n, (lt, _) in enumerate(p for p in pairs if p[0])]
        options = [{"key": k, "text": _rich(t, fmt), "side": "left"} for k, t in lefts]
        options += [{"key": rkeys[r], "text": _rich(r, fmt), "side": "right"} for r in rights]
        key = {k: rkeys[r] for (k, _), (_, r) in zip(lefts, [p for p in pairs if p[0]], strict=True)}
        return ItemDraft(type="matching", options=options, key=key, **common)
    if all(mk == "=" for mk, _, _ in answers):
        accepted = [_unescape(t).strip() for _, w, t in answers if w is None or w >= 100]
        if any(w is not None and 0 < w < 100 for _, w, _ in answers):
            warnings.append(f"question {qid}: partial-credit short answers are not kept")
        return ItemDraft(
            type="fill_blank",
            key=[{"accepted": accepted, "numeric": False, "tolerance": 0}],
            settings={"case_sensitive": False, "order_free": False},
            **common,
        )
    labels = letters(len(answers))
    options = [{"key": k, "text": _rich(t, fmt)} for k, (_, _, t) in zip(labels, answers, strict=True)]
    fractions = {
        k: (1.0 if mk == "=" else 0.0) if w is None else w / 100 for k, (mk, w, _) in zip(labels, answers, strict=True)
    }
    positive = [k for k, f in fractions.items() if f > 0]
    if not positive:
        raise ValueError("multiple choice question has no right answer")
    right = [k for k, (mk, _, _) in zip(labels, answers, strict=True) if mk == "="]
    if right:  # as in Moodle: an '=' answer makes a one-answer question, weights on the others are partial credit
        if len(right) != 1:
            raise ValueError(f"multiple choice needs exactly one '=' answer, found {len(right)}")
        partial = any(0 < f < 1 or f < 0 for f in fractions.values())
        return ItemDraft(
            type="single_choice",
            options=options,
            key=right[0],
            settings={"scoring": "weights", "weights": fractions} if partial else {},
            **common,
        )
    return ItemDraft(
        type="multiple_choice",
        options=options,
        key=positive,
        settings={"scoring": "weights", "weights": fractions},
        **common,
    )


def read_gift(data: bytes) -> ImportResult:
    """Parse a GIFT file; questions are separated by blank lines."""
    result = ImportResult()
    text = decode_text(data, result.warnings).replace("\r\n", "\n")
    for k, v in _ESC.items():
        text = text.replace(k, v)
    text = "\n".join(ln for ln in text.split("\n") if not ln.lstrip().startswith("//"))
    category: str | None = None
    for n, block in enumerate(b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()):
        if block.startswith("$CATEGORY:"):
            path = [p for p in _unescape(block.split(":", 1)[1]).strip().split("/") if p]
            if path and path[0].startswith("$"):
                path = path[1:]
            if path and path[0] == "top":
                path = path[1:]
            category = "/".join(path) or None
            continue
        title = ""
        tm = re.match(r"::(.*?)::(.*)", block, flags=re.S)
        if tm:
            title, block = _unescape(tm.group(1)).strip(), tm.group(2)
        qid = title or f"gift-{n + 1}"
        if "{" not in block:
            result.warnings.append(f"description {qid!r} skipped (it has no answer block)")
            continue
        try:
            result.drafts.append(_parse(qid, block, category, "moodle", result.warnings))
        except ValueError as exc:
            result.rejected.append({"item": qid, "reason": f"question {title or n + 1}: {exc}"})
    return result


def _esc(text: str) -> str:
    text = text.replace("\\", "\\\\")
    for ch in "~=#{}:":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r", "").replace("\n", "\\n")


def _pct(f: float) -> str:
    return f"%{f * 100:.7g}%"


def write_gift(drafts: list[ItemDraft]) -> bytes:
    """Write drafts as GIFT ([html] text). Ordering and multi-blank fill_blank items raise ValueError.

    GIFT carries no points, units or matching distractors; those are not written.
    """
    out: list[str] = []
    category: str | None = None
    for d in drafts:
        kp = d.knowledge_points[0] if d.knowledge_points else ""
        if kp != category:
            category = kp
            out.append(f"$CATEGORY: $course$/top{'/' + _esc(kp) if kp else ''}")
        stem, tail = _esc(d.stem), ""
        if d.type in ("single_choice", "multiple_choice", "fill_blank") and BLANK in d.stem:
            before, _, after = d.stem.partition(BLANK)
            stem, tail = _esc(before.rstrip()), _esc(after.lstrip())
        fb = f" ####[html]{_esc(d.explanation)}" if d.explanation else ""
        weights = d.settings.get("weights") or {}
        if d.type in ("single_choice", "multiple_choice"):
            keys = [d.key] if d.type == "single_choice" else list(d.key or [])
            parts = []
            for o in d.options:
                if weights:
                    w = float(weights.get(o["key"], 0))
                else:
                    w = (1.0 if d.type == "single_choice" else 1 / len(keys)) if o["key"] in keys else 0.0
                if d.type == "single_choice" and o["key"] in keys:
                    parts.append("=" + _esc(o["text"]))
                else:
                    parts.append("~" + (_pct(w) if w else "") + _esc(o["text"]))
            answer = " ".join(parts)
        elif d.type == "true_false":
            answer = "TRUE" if d.key else "FALSE"
        elif d.type == "fill_blank":
            blanks = list(d.key or [])
            if len(blanks) != 1 or blanks[0].get("numeric") or blanks[0].get("choices"):
                raise ValueError(f"item {d.source_id!r}: GIFT holds one text blank per question, not this fill_blank")
            answer = " ".join("=" + _esc(a) for a in blanks[0]["accepted"])
        elif d.type == "numerical":
            answer = f"#{float(d.key['value']):g}:{float(d.key.get('tolerance') or 0):g}"
        elif d.type in ("essay", "short_answer"):
            answer = ""
        elif d.type == "matching":
            rights = {o["key"]: o["text"] for o in d.options if o.get("side") == "right"}
            answer = " ".join(
                f"={_esc(o['text'])} -> {_esc(rights[d.key[o['key']]])}"
                for o in d.options
                if o.get("side") == "left" and o["key"] in (d.key or {})
            )
        else:
            raise ValueError(f"item {d.source_id!r}: GIFT has no {d.type} questions")
        out.append(f"::{_esc(d.source_id)}::[html]{stem}{{{answer}{fb}}}{(' ' + tail) if tail else ''}")
    return ("\n\n".join(out) + "\n").encode("utf-8")
