"""Teacher-readable rendering of assembly messages in Simplified Chinese and English.

The solver returns message codes with their numbers; rendering lives here so that the web app, the CLI and the
reports all say the same thing in both languages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from itembank.assembly.model import Message

ATTRIBUTE_NAMES: dict[str, tuple[str, str]] = {
    "knowledge_point": ("knowledge point", "知识点"),
    "level": ("level", "难度"),
    "type": ("type", "题型"),
    "cognitive_level": ("cognitive level", "认知层次"),
    "tag": ("tag", "标签"),
    "item_id": ("item", "题目"),
}

TEMPLATES: dict[str, tuple[str, str]] = {
    "conflict": ("These requirements cannot all be met together:", "以下要求无法同时满足："),
    "need_items": (
        "needs {need} items of {label} in each of {forms} form(s), {total} in all; the bank has {have}",
        "每份试卷需要{label}的题目 {need} 道，共 {forms} 份合计 {total} 道；题库只有 {have} 道",
    ),
    "need_points": (
        "needs {need} points of {label} in each of {forms} form(s); the bank has {have} points",
        "每份试卷需要{label}的题目 {need} 分（共 {forms} 份）；题库只有 {have} 分",
    ),
    "max_items": (
        "at most {max} {unit} of {label} per form (the bank has {have})",
        "每份试卷{label}最多 {max} {unit_zh}（题库有 {have}）",
    ),
    "range_items": (
        "between {min} and {max} {unit} of {label} per form (the bank has {have})",
        "每份试卷{label} {min}–{max} {unit_zh}（题库有 {have}）",
    ),
    "length": (
        "each of {forms} form(s) has {min}–{max} items; the bank has {have} usable items",
        "每份试卷 {min}–{max} 道题，共 {forms} 份；题库可用题目 {have} 道",
    ),
    "points_total": ("each form totals {min}–{max} points", "每份试卷总分 {min}–{max} 分"),
    "time_total": ("each form takes {min}–{max} seconds", "每份试卷预计用时 {min}–{max} 秒"),
    "enemies": (
        "enemy sets: at most one item of each set per form ({sets} sets)",
        "互斥题组：每份试卷每组最多一道（共 {sets} 组）",
    ),
    "friends": ("friend sets: all of a set or none ({sets} sets)", "关联题组：整组选用或都不选（共 {sets} 组）"),
    "passages": (
        "passage sets: {rule} ({sets} passages)",
        "材料题组：{rule_zh}（共 {sets} 组）",
    ),
    "include": ("item {item} must appear in every form", "题目 {item} 必须出现在每份试卷中"),
    "overlap": (
        "any two of the {forms} forms share at most {max_overlap} items",
        "{forms} 份试卷两两之间最多共用 {max_overlap} 道题",
    ),
    "exposure": (
        "an item may be used at most {max_uses} times in all, past administrations included",
        "每道题累计使用（含以往考试）不得超过 {max_uses} 次",
    ),
    "unknown": (
        "no paper found within {seconds} s and infeasibility not proven either; allow more time",
        "在 {seconds} 秒内既未找到试卷也未证明无解；请延长时间限制",
    ),
    "invalid": ("{field}: {problem}", "{field}：{problem}"),
    "pool_fallback": (
        "the pre-filtered pool of {pool} items was not enough; searched the whole bank of {bank} items",
        "预筛选的 {pool} 道题不足，已改为在全部 {bank} 道题中组卷",
    ),
    "violation": ("form {form}: {rule} violated ({detail})", "试卷 {form}：违反规则 {rule}（{detail}）"),
}


def label(conditions: Sequence[Sequence[str]], lang: str) -> str:
    """`knowledge point 3.2 at level hard` / `知识点3.2、难度hard`."""
    parts = []
    for attribute, value in conditions:
        en, zh = ATTRIBUTE_NAMES.get(attribute, (attribute.replace("_", " "), attribute))
        parts.append(f"{zh}{value}" if lang.startswith("zh") else f"{en} {value}")
    if lang.startswith("zh"):
        return "、".join(parts)
    return parts[0] + "".join(f" at {p}" for p in parts[1:]) if parts else ""


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def render(message: Message, lang: str = "en") -> str:
    """One message in `en` or `zh_CN` (any `zh*`)."""
    zh = lang.startswith("zh")
    en_t, zh_t = TEMPLATES[message.code]
    params: dict[str, object] = {k: _fmt(v) for k, v in message.params.items()}
    if "conditions" in message.params:
        params["label"] = label(message.params["conditions"], lang)  # type: ignore[arg-type]
    if message.code in ("max_items", "range_items"):
        params["unit_zh"] = "道" if message.params.get("unit") == "items" else "分"
    if message.code == "passages":
        lo, hi = message.params.get("k_min"), message.params.get("k_max")
        params["rule"] = "all or none" if lo is None and hi is None else f"{lo or 1}–{hi or 'all'} items of a passage"
        params["rule_zh"] = "整组选用或都不选" if lo is None and hi is None else f"每组选 {lo or 1}–{hi or '全部'} 道"
    return (zh_t if zh else en_t).format_map(_Default(params))


class _Default(dict):  # missing keys render as "?" rather than crashing a report
    def __missing__(self, key: str) -> str:
        return "?"


def render_all(messages: Sequence[Message], lang: str = "en") -> list[str]:
    """Render a list; the `conflict` header is followed by indented requirements."""
    out = []
    for m in messages:
        text = render(m, lang)
        out.append(text if m.code in ("conflict", "unknown", "invalid", "pool_fallback") else "  - " + text)
    return out


def both(messages: Sequence[Message]) -> Mapping[str, list[str]]:
    """Both languages, as the CLI and the JSON output carry them."""
    return {"en": render_all(messages, "en"), "zh_CN": render_all(messages, "zh_CN")}
