"""The `exam` command: a Flask CLI group; each domain registers its own sub-group (see exam.app.COMMANDS)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from exam.db import db


def _create_app(*_: object) -> object:
    from exam.app import create_app

    return create_app()


# Flask's own `run` would shadow ours (which prints the URL and demo sign-ins), so defaults are added by hand.
@click.group(
    cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False, add_default_commands=False
)
def main() -> None:
    """Smart-examination system: item bank, assembly, delivery, proctoring, grading."""


main.add_command(shell_command)
main.add_command(routes_command)


@click.command("demo")
@click.option("--students", default=2000, show_default=True, help="Simulated students in the past exam.")
@click.option("--seed", default=20261124, show_default=True)
@with_appcontext
def demo_command(students: int, seed: int) -> None:
    """Load the bilingual demo (idempotent): users of every role, a calibrated bank, an open and a past exam."""
    from exam.demo import load_demo

    summary = load_demo(db.session, students=students, seed=seed)
    db.session.commit()
    for line in summary:
        click.echo(line)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def run_command(host: str, port: int) -> None:
    """Serve the application (threaded development server; use gunicorn wsgi:app in production)."""
    from exam.demo import DEMO_LOGINS

    click.echo(f"Smart Exam is running at http://{host}:{port}/login")
    click.echo("Demo sign-ins (username / password):")
    for role, username, password in DEMO_LOGINS:
        click.echo(f"  {role:<9} {username:<12} {password}")
    # app.run() refuses to start under the flask CLI (FLASK_RUN_FROM_CLI); serve with Werkzeug directly.
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@click.group("users", help="Create users and import rosters.")
def users_group() -> None:
    """Group for user commands."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "examiner", "proctor", "marker", "student"]), required=True)
@click.option("--name", "display_name", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_user_command(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create one user."""
    from exam.auth.services import create_user
    from exam.validation import ValidationFailed

    try:
        user = create_user(
            db.session, username=username, role=role, display_name=display_name or username, password=password
        )
    except ValidationFailed as err:
        raise click.ClickException(str(err)) from err
    db.session.commit()
    click.echo(f"created {user.username} ({user.role.value})")


@click.group("sittings", help="Exam sittings maintenance.")
def sittings_group() -> None:
    """Group for sitting commands."""


@sittings_group.command("expire")
@with_appcontext
def expire_command() -> None:
    """Submit every sitting whose time is up (the server does this lazily too; run from cron or Celery beat)."""
    from exam.delivery.services import expire_overdue

    count = expire_overdue(db.session)
    db.session.commit()
    click.echo(f"submitted {count} overdue sitting(s)")


@users_group.command("import-roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and report; create nothing.")
@click.option(
    "--passwords-out",
    type=click.Path(dir_okay=False, writable=True),
    help="CSV to write the generated initial passwords to (rows without a password column get one).",
)
@with_appcontext
def import_roster_command(path: str, dry_run: bool, passwords_out: str | None) -> None:
    """Create student accounts from a CSV/XLSX roster (username, name, class, optional password, email)."""
    import csv
    from pathlib import Path

    from exam.auth.services import import_roster
    from exam.validation import ValidationFailed

    try:
        created = import_roster(db.session, Path(path).name, Path(path).read_bytes())
    except ValidationFailed as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run: {len(created)} students would be created; nothing was stored")
        return
    db.session.commit()
    generated = [(u.username, pw) for u, pw in created if pw]
    if passwords_out:
        with open(passwords_out, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(["username", "initial_password"])
            writer.writerows(generated)
    click.echo(
        f"created {len(created)} students"
        + (f"; {len(generated)} initial passwords in {passwords_out}" if passwords_out else "")
    )
