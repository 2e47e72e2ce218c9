"""`exam items ...`: import and export of items."""

from __future__ import annotations

import click


@click.group("items", help="Import and export items.")
def items() -> None:
    """Group for item bank commands."""
