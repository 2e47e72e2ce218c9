"""Rule scoring of objective items: choice, true/false, fill-in-the-blank, numerical, matching, ordering.

PURE: no Flask, no database. Every decision carries an explanation in English and Simplified Chinese.
Canonical key and answer formats are documented in DESIGN.md.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

MACHINE_SCORABLE: frozenset[str] = frozenset(
    {"single_choice", "multiple_choice", "true_false", "fill_blank", "numerical", "matching", "ordering"}
)
MULTIPLE_CHOICE_RULES = ("all_or_nothing", "partial_per_option", "penalty", "cn_partial")


@dataclass(frozen=True)
class ObjectiveScore:
    """A rule-based score with the reason for it."""

    score: float
    max_score: float
    correct: bool | None  # None: partially correct
    explanation: str
    explanation_zh: str


def _result(score: float, points: float, en: str, zh: str) -> ObjectiveScore:
    score = max(0.0, min(points, score))
    correct: bool | None = True if math.isclose(score, points) else (False if score == 0 else None)
    return ObjectiveScore(round(score, 6), points, correct, en, zh)


def _is_blank(answer: Any) -> bool:
    if answer is None:
        return True
    if isinstance(answer, str):
        return not answer.strip()
    if isinstance(answer, list | tuple):
        return all(_is_blank(a) for a in answer)
    if isinstance(answer, dict):
        return all(_is_blank(v) for v in answer.values())
    return False


def score_objective(
    item_type: str,
    key: Any,
    answer: Any,
    points: float,
    *,
    rule: str = "all_or_nothing",
    settings: Mapping[str, Any] | None = None,
) -> ObjectiveScore:
    """Score one answer against its key under the item type's rule (and the exam's multiple-choice rule)."""
    settings = settings or {}
    if item_type not in MACHINE_SCORABLE:
        raise ValueError(f"item type {item_type!r} is not scored by rules")
    if _is_blank(answer) and not (item_type == "true_false" and isinstance(answer, bool)):
        return _result(0.0, points, "no answer", "未作答")
    scorer = _SCORERS[item_type]
    return scorer(key, answer, points, rule, settings)


# --- choice -----------------------------------------------------------------------------------------------


def _single(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    if str(answer) == str(key):
        return _result(points, points, f"chose {answer}, the key", f"选择 {answer}，正确")
    return _result(0.0, points, f"chose {answer}; the key is {key}", f"选择 {answer}；正确答案为 {key}")


def _true_false(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    if bool(answer) is bool(key):
        return _result(points, points, "matches the key", "判断正确")
    return _result(0.0, points, f"answered {bool(answer)}; the key is {bool(key)}", "判断错误")


def _multiple(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    keyset = {str(k) for k in key or []}
    chosen = {str(a) for a in (answer if isinstance(answer, list | tuple) else [answer])}
    right = chosen & keyset
    wrong = chosen - keyset
    shown = ",".join(sorted(chosen))
    if chosen == keyset:
        return _result(points, points, f"chose {shown}, exactly the key", f"选择 {shown}，完全正确")
    if rule == "all_or_nothing":
        return _result(
            0.0,
            points,
            f"chose {shown}; the key is {','.join(sorted(keyset))}",
            f"选择 {shown}；正确答案为 {','.join(sorted(keyset))}",
        )
    if rule == "cn_partial":
        if wrong:
            return _result(
                0.0,
                points,
                f"chose wrong option(s) {','.join(sorted(wrong))}",
                f"选了错误选项 {','.join(sorted(wrong))}，不得分",
            )
        fraction = float(settings.get("partial_fraction", 0.5))
        return _result(
            points * fraction, points, f"correct subset {shown}: partial credit", f"少选 {shown}（均正确）：得部分分"
        )
    if rule == "penalty":
        unit = points / max(1, len(keyset))
        score = unit * len(right) - unit * len(wrong)
        return _result(
            score,
            points,
            f"{len(right)} correct chosen, {len(wrong)} wrong chosen (penalised)",
            f"选对 {len(right)} 项，选错 {len(wrong)} 项（倒扣）",
        )
    if rule == "partial_per_option":
        n_options = int(settings.get("n_options") or 0)
        if n_options < len(keyset | chosen):
            raise ValueError("partial_per_option needs settings['n_options'] (the number of options shown)")
        missed = keyset - chosen
        well_classified = n_options - len(wrong) - len(missed)
        return _result(
            points * well_classified / n_options,
            points,
            f"{well_classified} of {n_options} options decided correctly",
            f"{n_options} 个选项中判断正确 {well_classified} 个",
        )
    raise ValueError(f"unknown multiple-choice rule {rule!r}; expected one of {MULTIPLE_CHOICE_RULES}")


# --- text and numbers -------------------------------------------------------------------------------------

_CJK_PUNCT = "，。、；：？！“”‘’（）【】《》〈〉「」『』—…·～"
_PUNCT_TABLE = str.maketrans(
    "", "", string.punctuation.replace(".", "").replace("-", "").replace("/", "").replace("%", "") + _CJK_PUNCT
)
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*(.*?)\s*$")
_FRACTION = re.compile(r"^\s*([-+]?\d+)\s*/\s*(\d+)\s*(.*?)\s*$")


def normalise_text(text: str, *, case_sensitive: bool = False) -> str:
    """NFKC (full-width to half-width), unified whitespace, punctuation removed, case folded unless told."""
    text = unicodedata.normalize("NFKC", str(text))
    text = text.translate(_PUNCT_TABLE)
    text = re.sub(r"\s+", " ", text).strip()
    return text if case_sensitive else text.casefold()


def parse_number(text: str) -> tuple[float, str] | None:
    """A number written as 0.5, 1/2, 50% or 1e-3, with an optional trailing unit; None if not a number."""
    text = unicodedata.normalize("NFKC", str(text)).replace("−", "-").replace(",", "")
    if match := _FRACTION.match(text):
        numerator, denominator, unit = match.groups()
        if int(denominator) == 0:
            return None
        return float(Fraction(int(numerator), int(denominator))), unit
    if match := _NUMBER.match(text):
        value, percent, unit = match.groups()
        number = float(value) / (100 if percent else 1)
        return number, unit
    return None


def _unit_ok(unit: str, accepted_units: Sequence[str]) -> bool:
    if not unit:
        return True  # a bare number is read in the item's unit
    wanted = {normalise_text(u, case_sensitive=True).replace(" ", "") for u in accepted_units}
    return normalise_text(unit, case_sensitive=True).replace(" ", "") in wanted


def _numbers_equal(given: float, expected: float, tolerance: float) -> bool:
    return abs(given - expected) <= tolerance + 1e-12 * max(1.0, abs(expected))


def _match_blank(blank: Mapping[str, Any], given: str, case_sensitive: bool) -> tuple[bool, str, str]:
    accepted = list(blank.get("accepted") or [])
    if blank.get("numeric"):
        parsed = parse_number(given)
        tolerance = float(blank.get("tolerance") or 0)
        units = list(blank.get("units") or [])
        if parsed is not None and _unit_ok(parsed[1], units):
            for index, candidate in enumerate(accepted, start=1):
                expected = parse_number(str(candidate))
                if expected is not None and _numbers_equal(parsed[0], expected[0], tolerance):
                    return True, f"equals accepted value {index} ({candidate})", f"与参考值 {index}（{candidate}）相等"
    normalised = normalise_text(given, case_sensitive=case_sensitive)
    for index, candidate in enumerate(accepted, start=1):
        if normalise_text(str(candidate), case_sensitive=case_sensitive) == normalised:
            return True, f"matched accepted answer {index} after normalisation", f"规范化后与参考答案 {index} 一致"
    return False, "matches no accepted answer", "与所有参考答案均不符"


def _fill_blank(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    blanks: list[Mapping[str, Any]] = list(key or [])
    given = list(answer) if isinstance(answer, list | tuple) else [answer]
    given += [""] * (len(blanks) - len(given))
    case_sensitive = bool(settings.get("case_sensitive", False))
    weights = [float(b.get("points", 1.0)) for b in blanks]
    total_weight = sum(weights) or 1.0
    earned = 0.0
    notes_en: list[str] = []
    notes_zh: list[str] = []
    if settings.get("order_free"):
        unused = list(range(len(blanks)))
        for position, text in enumerate(given[: len(blanks)], start=1):
            hit = None
            for b in unused:
                ok, en, zh = _match_blank(blanks[b], str(text or ""), case_sensitive)
                if ok:
                    hit = (b, en, zh)
                    break
            if hit is None:
                notes_en.append(f"blank {position}: matches no remaining blank")
                notes_zh.append(f"第 {position} 空：不符")
                continue
            unused.remove(hit[0])
            earned += weights[hit[0]]
            notes_en.append(f"blank {position}: {hit[1]} (any order)")
            notes_zh.append(f"第 {position} 空：{hit[2]}（不计顺序）")
    else:
        for position, (blank, text, weight) in enumerate(zip(blanks, given, weights, strict=False), start=1):
            if _is_blank(text):
                notes_en.append(f"blank {position}: empty")
                notes_zh.append(f"第 {position} 空：未填")
                continue
            ok, en, zh = _match_blank(blank, str(text), case_sensitive)
            earned += weight if ok else 0.0
            notes_en.append(f"blank {position}: {en}")
            notes_zh.append(f"第 {position} 空：{zh}")
    return _result(points * earned / total_weight, points, "; ".join(notes_en), "；".join(notes_zh))


def _numerical(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    spec = dict(key or {})
    blank = {
        "accepted": [spec.get("value")],
        "numeric": True,
        "tolerance": spec.get("tolerance", 0),
        "units": spec.get("units") or [],
    }
    parsed = parse_number(str(answer))
    if parsed is None:
        return _result(0.0, points, f"{answer!r} is not a number", f"{answer!r} 不是数值")
    if not _unit_ok(parsed[1], blank["units"]):
        return _result(0.0, points, f"unit {parsed[1]!r} is not accepted", f"单位 {parsed[1]!r} 不被接受")
    ok, en, zh = _match_blank(blank, str(answer), True)
    if ok:
        return _result(
            points, points, f"{en}, within tolerance {blank['tolerance']}", f"{zh}，在误差 {blank['tolerance']} 内"
        )
    return _result(
        0.0,
        points,
        f"{parsed[0]} is outside {spec.get('value')} ± {blank['tolerance']}",
        f"{parsed[0]} 超出 {spec.get('value')} ± {blank['tolerance']}",
    )


# --- matching and ordering --------------------------------------------------------------------------------


def _matching(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    pairs = {str(k): str(v) for k, v in dict(key or {}).items()}
    given = {str(k): str(v) for k, v in dict(answer or {}).items()}
    right = sum(1 for left, target in pairs.items() if given.get(left) == target)
    return _result(
        points * right / max(1, len(pairs)),
        points,
        f"{right} of {len(pairs)} pairs matched",
        f"{len(pairs)} 组中配对正确 {right} 组",
    )


def _ordering(key: Any, answer: Any, points: float, rule: str, settings: Mapping[str, Any]) -> ObjectiveScore:
    expected = [str(k) for k in key or []]
    given = [str(a) for a in answer or []]
    if given == expected:
        return _result(points, points, "order matches the key", "顺序完全正确")
    if settings.get("partial"):
        right = sum(1 for e, g in zip(expected, given, strict=False) if e == g)
        return _result(
            points * right / max(1, len(expected)),
            points,
            f"{right} of {len(expected)} positions correct",
            f"{len(expected)} 个位置中正确 {right} 个",
        )
    return _result(0.0, points, "order differs from the key", "顺序不正确")


_SCORERS = {
    "single_choice": _single,
    "true_false": _true_false,
    "multiple_choice": _multiple,
    "fill_blank": _fill_blank,
    "numerical": _numerical,
    "matching": _matching,
    "ordering": _ordering,
}
