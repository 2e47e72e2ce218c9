"""Validation failures that name every problem (row, field, value) so nothing is guessed and nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (row/field) and why."""

    field: str
    message: str
    row: int | None = None
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        if self.value is not None:
            out["value"] = self.value
        return out

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        shown = f" (value: {self.value!r})" if self.value is not None else ""
        return f"{where}{self.field}: {self.message}{shown}"


@dataclass
class ValidationFailed(Exception):
    """Raised by services when input is refused; carries every problem found, not just the first."""

    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, message: str, problems: list[Problem]) -> ValidationFailed:
        """Build from Problem objects."""
        return cls(message, [p.as_dict() for p in problems])

    def __str__(self) -> str:
        lines = [self.message]
        for p in self.problems:
            where = f"row {p['row']}, " if "row" in p else ""
            value = f" (value: {p['value']!r})" if "value" in p else ""
            lines.append(f"  - {where}{p['field']}: {p['message']}{value}")
        return "\n".join(lines)
