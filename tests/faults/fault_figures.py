"""What the fault tests measured, printed at the end of the run (tests/faults/conftest.py).

A test records one line per scenario: ``record("kill -9 writer (sqlite)", trials=8, ...)``.
"""

from __future__ import annotations

import os

STRESS = os.environ.get("MANGODB_STRESS", "") not in ("", "0")

FIGURES: dict[str, dict[str, object]] = {}


def sized(default: int, stress: int) -> int:
    """The small figure in CI, the full one with ``MANGODB_STRESS=1``."""
    return stress if STRESS else default


def record(scenario: str, **figures: object) -> None:
    FIGURES.setdefault(scenario, {}).update(figures)


def _shown(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def lines() -> list[str]:
    out = []
    for scenario, figures in FIGURES.items():
        shown = ", ".join(
            f"{name.replace('_', ' ')} {_shown(value)}" for name, value in figures.items()
        )
        out.append(f"{scenario}: {shown}")
    return out
