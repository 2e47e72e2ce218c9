"""The Alembic history builds exactly the models' schema, on SQLite and PostgreSQL, and every downgrade runs."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from exam.db import db
from exam.i18n import ROOT

MIGRATIONS = str(ROOT / "migrations")


def _reset(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def test_history_is_linear() -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"more than one Alembic head: {heads} (rebase the newer migration)"


def test_upgrade_matches_models_and_downgrade_runs(app: Flask) -> None:
    _reset(app)
    try:
        with app.app_context():
            upgrade(directory=MIGRATIONS)
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            downgrade(directory=MIGRATIONS, revision="base")
            with db.engine.connect() as conn:
                left = set(inspect(conn).get_table_names()) - {"alembic_version"}
            assert left == set()
    finally:
        _reset(app)
        with app.app_context():
            db.create_all()
