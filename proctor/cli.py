"""`exam proctor ...`: webcam analysis and proctoring maintenance."""

from __future__ import annotations

import click


@click.group("proctor", help="Proctoring: analyse webcam video, maintain evidence.")
def proctor() -> None:
    """Group for proctoring commands."""
