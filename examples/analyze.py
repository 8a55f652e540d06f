"""Compare gradient methods on an objective and plot a history key per method to a PNG.

    mangodb demo
    python examples/analyze.py --db mangodb-demo.sqlite3 --out curves.png

Plotting needs matplotlib (``pip install 'mangodb[plot]'``).
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mangodb import MethodComparison, RunRepository
from mangodb.errors import MissingExtra


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise MissingExtra("matplotlib", "plot") from error
    return plt


def print_comparison(rows: Sequence[MethodComparison]) -> None:
    if not rows:
        print("no completed runs with this objective")
        return
    better = "lower" if rows[0].direction == "min" else "higher"
    print(f"objective {rows[0].objective} ({better} is better)")
    print(f"{'method':<10} {'n':>3} {'mean':>9} {'std':>9} {'best':>9}  best run")
    for row in sorted(rows, key=lambda r: r.mean if r.mean is not None else math.inf,
                      reverse=better == "higher"):  # fmt: skip
        print(
            f"{row.gradient_method or '-':<10} {row.n:>3} {row.mean or math.nan:>9.4f} "
            f"{row.std or math.nan:>9.4f} {row.best_value or math.nan:>9.4f}  {row.best_run_id}"
        )


def mean_curves(repo: RunRepository, key: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per method: the mean of ``key`` over completed runs at each logged step."""
    runs = repo.query_runs(status="completed", limit=10_000)
    method_of = {run.run_id: run.gradient_method or "-" for run in runs}
    history = repo.get_history_many(list(method_of), key, max_points=200)
    points: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run_id, series in history.items():
        for step, value in zip(series.steps, series.values, strict=True):
            if isinstance(value, float) and math.isfinite(value):
                points[method_of[run_id]][step].append(value)
    return {
        method: (sorted(by_step), [sum(v) / len(v) for _, v in sorted(by_step.items())])
        for method, by_step in sorted(points.items())
    }


def plot(curves: dict[str, tuple[list[int], list[float]]], key: str, out: Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for method, (steps, values) in curves.items():
        axes.plot(steps, values, label=method)
    axes.set_xlabel("step")
    axes.set_ylabel(key)
    axes.set_title(f"{key}: mean over completed runs per gradient method")
    axes.legend()
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="SQLite path or database URL")
    parser.add_argument("--objective", default="hop")
    parser.add_argument("--key", default="val/hop_loss", help="history key to plot")
    parser.add_argument("--out", type=Path, default=Path("curves.png"))
    args = parser.parse_args(argv)
    _pyplot()  # fail early, before any query, when the extra is missing
    with RunRepository.connect(args.db) as repo:
        print_comparison(repo.compare_gradient_methods(args.objective))
        curves = mean_curves(repo, args.key)
    plot(curves, args.key, args.out)
    print(f"wrote {args.out} ({len(curves)} methods)")


if __name__ == "__main__":
    main()
