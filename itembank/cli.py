"""`exam items ...`: import and export items of a bank (database mode)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("items", help="Import and export items (xlsx, csv, json, gift, aiken).")
def items() -> None:
    """Group for item commands."""


def _bank_and_user(bank_ref: str, username: str | None):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from exam.auth.models import Role, User
    from exam.db import db
    from itembank.models import ItemBank

    bank = db.session.get(ItemBank, int(bank_ref)) if bank_ref.isdigit() else db.session.scalar(
        select(ItemBank).where(ItemBank.name == bank_ref))
    if bank is None:
        raise click.ClickException(f"no item bank {bank_ref!r} (give its id or exact name)")
    user = db.session.scalar(select(User).where(User.username == username)) if username else bank.owner
    if user is None or not user.has_role(Role.EXAMINER):
        raise click.ClickException(f"{username!r} is not an examiner account")
    return bank, user


@items.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--bank", "bank_ref", required=True, help="bank id or exact name")
@click.option("--as", "username", default=None, help="record the items as created by this examiner (default: owner)")
@click.option("--dry-run", is_flag=True, help="check and report; store nothing")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True),
              help="write REPORT.json: imported, by_type, rejected [{item, reason}], warnings")
@with_appcontext
def import_command(path: str, bank_ref: str, username: str | None, dry_run: bool, report_path: str | None) -> None:
    """Import an item file into a bank, all or nothing; every rejected item is named with its reason."""
    from exam.db import db
    from exam.validation import ValidationFailed
    from itembank.services import import_items, report_json

    bank, user = _bank_and_user(bank_ref, username)
    try:
        report = import_items(db.session, bank, user, Path(path).name, Path(path).read_bytes(), dry_run=dry_run)
    except ValidationFailed as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    if report_path:
        Path(report_path).write_text(report_json(report), encoding="utf-8")
    verb = "would import" if dry_run else "imported"
    types = ", ".join(f"{t} {n}" for t, n in sorted(report["by_type"].items()))
    click.echo(f"{verb} {report['imported']} items ({types or 'none'}); rejected {len(report['rejected'])}; "
               f"warnings {len(report['warnings'])}")
    for rejected in report["rejected"][:20]:
        click.echo(f"  rejected {rejected['item']}: {rejected['reason']}")


@items.command("export")
@click.option("--bank", "bank_ref", required=True, help="bank id or exact name")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv", "json", "aiken"]), required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export_command(bank_ref: str, fmt: str, out: str) -> None:
    """Write a bank's items in an exchange format."""
    from exam.db import db
    from itembank.services import export_items

    bank, _user = _bank_and_user(bank_ref, None)
    Path(out).write_bytes(export_items(db.session, bank, fmt))
    click.echo(f"wrote {out}")
