"""`exam items ...`: import and export the items of a bank (database mode: they commit, unless --dry-run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext

# Kept literal (not imported from itembank.formats) so that `exam --help` does not load the format readers.
EXPORT_FORMATS = ("xlsx", "csv", "json", "qti21", "qti30", "moodle", "gift", "aiken", "docx")


@click.group("items", help="Import and export items: xlsx, csv, json, QTI, Moodle XML, GIFT, Aiken, docx.")
def items() -> None:
    """Group for item commands."""


def _bank_and_user(bank_ref: str | None, username: str | None, *, edit: bool) -> tuple[Any, Any]:
    """The bank named by id or exact name, and the examiner acting on it (default: the owner)."""
    from sqlalchemy import select

    from exam.auth.models import User
    from exam.db import db
    from itembank.models import ItemBank
    from itembank.services import can_access

    if bank_ref is None:
        # DESIGN.md's contract names no bank: that works when the database holds exactly one.
        banks = db.session.scalars(select(ItemBank).order_by(ItemBank.id).limit(11)).all()
        if len(banks) != 1:
            listed = ", ".join(f"{b.id} {b.name!r}" for b in banks[:10]) or "none"
            raise click.ClickException(f"give --bank (an id or exact name); banks: {listed}")
        bank_ref = str(banks[0].id)
    if bank_ref.isdigit():
        bank = db.session.get(ItemBank, int(bank_ref))
    else:
        matches = db.session.scalars(select(ItemBank).where(ItemBank.name == bank_ref)).all()
        if len(matches) > 1:
            ids = ", ".join(str(b.id) for b in matches)
            raise click.ClickException(f"{len(matches)} banks are named {bank_ref!r} (ids {ids}): give the id")
        bank = matches[0] if matches else None
    if bank is None:
        raise click.ClickException(f"no item bank {bank_ref!r} (give its id or exact name)")
    user = db.session.scalar(select(User).where(User.username == username)) if username else bank.owner
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    if not can_access(db.session, user, bank, edit=edit):
        raise click.ClickException(f"{user.username!r} may not {'change' if edit else 'read'} bank {bank.id}")
    return bank, user


@items.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--bank", "bank_ref", default=None, help="bank id or exact name (may be left out when there is one bank)")
@click.option("--as", "username", default=None, help="record the items as created by this examiner (default: owner)")
@click.option("--dry-run", is_flag=True, help="check and report; store nothing")
@click.option(
    "--update-existing", is_flag=True, help="update items already in the bank (same source id) instead of skipping"
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="write REPORT.json: imported, by_type, rejected [{item, reason}], warnings",
)
@with_appcontext
def import_command(
    path: str, bank_ref: str | None, username: str | None, dry_run: bool, update_existing: bool, report_path: str | None
) -> None:
    """Import an item file into a bank, all or nothing; every rejected item is named with its reason.

    Exit code 1 when the file cannot be read, or when items were rejected and none imported."""
    from exam.db import db
    from exam.validation import ValidationFailed
    from itembank.services import import_items, report_json

    bank, user = _bank_and_user(bank_ref, username, edit=True)
    source = Path(path)
    try:
        report = import_items(
            db.session,
            bank,
            user,
            source.name,
            source.read_bytes(),
            dry_run=dry_run,
            on_duplicate="update" if update_existing else "skip",
        )
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
    click.echo(
        f"{verb} {report['imported']} items ({types or 'none'}); rejected {len(report['rejected'])}; "
        f"warnings {len(report['warnings'])}"
    )
    for rejected in report["rejected"][:50]:
        click.echo(f"  rejected {rejected['item']}: {rejected['reason']}")
    if len(report["rejected"]) > 50:
        click.echo(f"  ... and {len(report['rejected']) - 50} more (see --report)")
    for warning in report["warnings"][:20]:
        click.echo(f"  warning: {warning}")
    if report["rejected"] and not report["imported"]:
        raise SystemExit(1)


@items.command("export")
@click.option("--bank", "bank_ref", default=None, help="bank id or exact name (may be left out when there is one bank)")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--item", "item_ids", type=int, multiple=True, help="export only these item ids (repeatable)")
@with_appcontext
def export_command(bank_ref: str | None, fmt: str, out: str, item_ids: tuple[int, ...]) -> None:
    """Write a bank's items (with their media where the format carries them) in an exchange format."""
    from exam.db import db
    from exam.validation import ValidationFailed
    from itembank.services import export_items

    bank, _user = _bank_and_user(bank_ref, None, edit=False)
    try:
        data = export_items(db.session, bank, fmt, list(item_ids) or None)
    except ValidationFailed as err:
        raise click.ClickException(str(err)) from err
    Path(out).write_bytes(data)
    click.echo(f"wrote {out} ({len(data)} bytes)")
