"""`exam assemble ...`: automatic paper assembly from a bank file and a blueprint (file mode, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from itembank.assembly.explain import render_all
from itembank.assembly.io import AssemblyInputError, load_bank, load_spec, result_to_json
from itembank.assembly.model import Progress
from itembank.assembly.solver import assemble as run_assembly


def _input_error(text: str) -> click.ClickException:
    exc = click.ClickException(text)
    exc.exit_code = 2
    return exc


@click.command("assemble")
@click.argument("bank_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("spec_yaml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FORMS.json")
@click.option("--time-limit", type=float, default=None, help="Seconds (default: the spec's time_limit, else 10).")
@click.option("--gap", type=float, default=None, help="Stop once the proven relative gap is below this.")
@click.option("--lang", type=click.Choice(["en", "zh_CN"]), default="en", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress lines.")
def assemble(
    bank_csv: Path, spec_yaml: Path, out: Path, time_limit: float | None, gap: float | None, lang: str, quiet: bool
) -> None:
    """Assemble the forms SPEC_YAML describes from BANK_CSV and write FORMS.json.

    Exit code 0: forms written (checked against every rule); 2: bad input; 3: infeasible (the explanation is
    printed and written to --out); 4: no answer within the time limit.
    """
    try:
        bank = load_bank(bank_csv)
        spec, options = load_spec(spec_yaml)
    except AssemblyInputError as exc:
        raise _input_error(str(exc)) from exc

    def progress(p: Progress) -> None:
        if not quiet:
            click.echo(f"[{p.seconds:6.1f}s] {p.stage}: objective {p.objective:.4g}, bound {p.bound:.4g}", err=True)

    result = run_assembly(
        bank,
        spec,
        time_limit=options["time_limit"] if time_limit is None else time_limit,
        gap=options["gap"] if gap is None else gap,
        progress=progress,
    )
    out.write_text(json.dumps(result_to_json(result), ensure_ascii=False, indent=2), encoding="utf-8")
    for line in render_all(result.messages + result.violations, lang):
        click.echo(line)
    if result.status == "invalid":
        raise _input_error("the blueprint does not fit the bank (see above)")
    if result.violations:
        raise click.ClickException("internal error: the forms failed the independent check; nothing to use")
    if result.ok:
        gap_txt = "n/a" if result.gap is None else f"{100 * result.gap:.2f}%"
        click.echo(
            f"{result.status}: {len(result.forms)} form(s), objective {result.objective}, bound {result.bound}, "
            f"gap {gap_txt}, {result.seconds:.1f}s -> {out}"
        )
        return
    raise SystemExit(3 if result.status == "infeasible" else 4)
