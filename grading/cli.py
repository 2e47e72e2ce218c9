"""`exam grade ...` and `exam report ...`: machine grading and score reports."""

from __future__ import annotations

import click


@click.group("grade", help="Machine grading of short answers and essays.")
def grade() -> None:
    """Group for grading commands."""


@click.group("report", help="Score reports (PDF) and exports.")
def report() -> None:
    """Group for report commands."""
