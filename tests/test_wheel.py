"""The wheel ships the migrations: `mangodb db upgrade` works from an installed package,
outside the checkout."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_upgrades_a_new_sqlite_file(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = dist.glob("mangodb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mangodb/migrations/env.py" in names
    assert any(n.startswith("mangodb/migrations/versions/") and n.endswith(".py") for n in names)
    assert "mangodb/py.typed" in names
    # `mangodb ui` and `mangodb report` need their templates, scripts and the vendored uPlot
    for shipped in ("templates/base.html", "templates/run.html", "static/pages.js",
                    "static/charts.js", "static/app.css", "static/vendor/uplot/uPlot.iife.min.js",
                    "static/vendor/uplot/LICENSE"):  # fmt: skip
        assert f"mangodb/ui/{shipped}" in names, shipped

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    workdir = tmp_path / "elsewhere"  # not the checkout: scripts must come from the wheel
    workdir.mkdir()
    database = workdir / "fresh.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("MANGODB_URL", "PYTHONPATH")}
    result = subprocess.run(
        [str(bin_dir / "mangodb"), "db", "upgrade", "--url", f"sqlite:///{database}"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    location = subprocess.run(
        [str(bin_dir / "python"), "-c",
         "from mangodb.db.schema import script_location; print(script_location())"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert location.startswith(str(venv))
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        (version,) = connection.execute("SELECT version_num FROM mangodb_alembic_version")
    assert {"runs", "history_chunks", "mangodb_alembic_version"} <= tables
    from mangodb.db.schema import head_revision

    assert version == (head_revision(),)
