"""`exam irt ...`: IRT calibration and scoring, in file mode (no database) and database mode."""

from __future__ import annotations

import click


@click.group("irt", help="IRT calibration and ability scoring.")
def irt() -> None:
    """Group for IRT commands."""
