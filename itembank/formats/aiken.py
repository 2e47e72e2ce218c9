"""Aiken format reader/writer (Moodle's documented single-choice text format)."""

from __future__ import annotations

import re

from itembank.formats.model import ImportResult, ItemDraft, decode_text

_OPTION = re.compile(r"^([A-Z])[.)]\s+(.*)$")
_ANSWER = re.compile(r"^ANSWER:\s*([A-Z])\s*$")


def read_aiken(data: bytes, prefix: str = "aiken") -> ImportResult:
    """Parse Aiken text; each question is a stem, options `A.`/`A)`, then `ANSWER: X`."""
    result = ImportResult()
    blocks = re.split(r"\n\s*\n", decode_text(data, result.warnings).replace("\r\n", "\n").strip())
    for n, block in enumerate(b for b in blocks if b.strip()):
        lines = [ln.strip() for ln in block.strip().split("\n")]
        qid = f"{prefix}-{n + 1}"
        options = [m.groups() for ln in lines[1:-1] if (m := _OPTION.match(ln))]
        answer = _ANSWER.match(lines[-1]) if len(lines) > 1 else None
        if answer is None:
            result.rejected.append({"item": qid, "reason": f"question {n + 1}: last line is not 'ANSWER: X'"})
            continue
        if len(options) != len(lines) - 2 or len(options) < 2:
            result.rejected.append({"item": qid, "reason": f"question {n + 1}: option lines must be 'A. text'"})
            continue
        keys = [k for k, _ in options]
        if answer.group(1) not in keys:
            result.rejected.append(
                {"item": qid, "reason": f"question {n + 1}: ANSWER {answer.group(1)} is not an option"}
            )
            continue
        result.drafts.append(
            ItemDraft(
                source_id=qid,
                type="single_choice",
                stem=lines[0],
                options=[{"key": k, "text": t} for k, t in options],
                key=answer.group(1),
            )
        )
    return result


def write_aiken(drafts: list[ItemDraft]) -> bytes:
    """Write single-choice drafts as Aiken; other types cannot be expressed and raise."""
    out = []
    for d in drafts:
        if d.type != "single_choice":
            raise ValueError(f"item {d.source_id!r}: Aiken holds only single_choice, not {d.type}")
        out.append("\n".join([d.stem, *(f"{o['key']}. {o['text']}" for o in d.options), f"ANSWER: {d.key}"]))
    return ("\n\n".join(out) + "\n").encode("utf-8")
