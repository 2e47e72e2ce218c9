"""`exam assemble BANK.csv SPEC.yaml --out FORMS.json` end to end with click's CliRunner (no database)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from itembank.assembly_cli import assemble


def write_bank(path: Path, n: int = 40) -> None:
    lines = ["item_id,a,b,c,type,points,seconds,knowledge_point,level,enemy_group"]
    for i in range(n):
        level = ("easy", "medium", "hard")[i % 3]
        b = (-1.0, 0.0, 1.0)[i % 3] + 0.01 * i
        enemy = "E1" if i in (0, 3) else ""
        lines.append(
            f"Q{i},{1 + (i % 5) / 5:.2f},{b:.2f},0.2,single_choice,2,60,{1 + i % 4}.{1 + i % 2},{level},{enemy}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_assemble_writes_checked_forms(tmp_path: Path) -> None:
    write_bank(tmp_path / "bank.csv")
    (tmp_path / "spec.yaml").write_text(
        "forms: 2\nlength: 8\nobjective: maximin_info\nthetas: [-1, 0, 1]\nmax_overlap: 0\n"
        "constraints:\n  - {attribute: knowledge_point, value: '1', min: 2}\n"
        "  - {attribute: level, value: hard, max: 3}\n"
        "time_limit: 5\n",
        encoding="utf-8",
    )
    out = tmp_path / "forms.json"
    r = CliRunner().invoke(
        assemble, [str(tmp_path / "bank.csv"), str(tmp_path / "spec.yaml"), "--out", str(out), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["status"] in ("optimal", "feasible") and len(data["forms"]) == 2
    assert all(len(f["items"]) == 8 and len(f["information"]) == 3 for f in data["forms"])
    assert not set(data["forms"][0]["items"]) & set(data["forms"][1]["items"])
    assert data["bound"] >= data["objective"] - 1e-9 and data["violations"] == []


def test_infeasible_spec_exits_3_with_both_languages(tmp_path: Path) -> None:
    write_bank(tmp_path / "bank.csv")
    (tmp_path / "spec.yaml").write_text(
        "length: 20\nconstraints:\n  - {attribute: level, value: hard, min: 15}\ntime_limit: 5\n", encoding="utf-8"
    )
    out = tmp_path / "forms.json"
    r = CliRunner().invoke(
        assemble, [str(tmp_path / "bank.csv"), str(tmp_path / "spec.yaml"), "--out", str(out), "--lang", "zh_CN"]
    )
    assert r.exit_code == 3, r.output
    assert "题库只有 13 道" in r.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["status"] == "infeasible" and any("the bank has 13" in s for s in data["explanation"]["en"])


def test_bad_bank_exits_2_naming_row_and_column(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text("item_id,a,b\nQ1,1,0\nQ2,x,0\n", encoding="utf-8")
    (tmp_path / "spec.yaml").write_text("length: 1\n", encoding="utf-8")
    r = CliRunner().invoke(
        assemble, [str(tmp_path / "bank.csv"), str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "o.json")]
    )
    assert r.exit_code == 2
    assert "row 3, a='x': not a number" in r.output
