"""Databases written by earlier revisions (tests/assets/mangodb-<rev>.sqlite3, made by
tests/assets/make_asset.py) upgrade to head and read back with nothing lost."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from mangodb import RunRepository, RunStatus, SchemaOutOfDate
from mangodb.db import schema
from mangodb.db.engine import make_engine
from mangodb.settings import sqlite_url

ASSETS = sorted((Path(__file__).resolve().parent / "assets").glob("mangodb-*.sqlite3"))


def test_there_is_an_asset_for_some_revision() -> None:
    assert ASSETS, "no upgrade asset committed"
    assert all(p.stem.removeprefix("mangodb-") in schema.known_revisions() for p in ASSETS)


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: p.stem)
def test_asset_upgrades_to_head_and_reads_back(asset: Path, tmp_path: Path) -> None:
    copy = tmp_path / asset.name
    shutil.copyfile(asset, copy)
    url = sqlite_url(copy)
    revision = asset.stem.removeprefix("mangodb-")
    if revision != schema.head_revision():
        with pytest.raises(SchemaOutOfDate):
            RunRepository.connect(url)
    engine = make_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    with RunRepository.connect(url) as repo:
        assert repo.count_by_status() == {"completed": 1, "crashed": 1, "running": 1}
        done = repo.get_run("asset_mgda")
        assert done.status is RunStatus.COMPLETED and done.wandb_run_id == "wb0"
        assert done.final_metrics["inf"] == math.inf
        assert math.isnan(done.config["nan"]) and done.config["note"] == "ünïcode ✓"
        assert [e.to_status for e in done.events] == ["launched", "running", "completed"]
        assert done.objective("hop") is not None and done.objective("hop").value == 0.5  # type: ignore[union-attr]
        crashed = repo.get_run("asset_pcgrad")
        assert crashed.crash_reports[0].error_type == "cuda_oom"
        loss = repo.get_history("asset_imtlg")["loss"]
        assert loss.steps == list(range(100))
        assert loss.values == [1.0 / (s + 1) for s in range(100)]
        assert [r.run_id for r in repo.query_runs(config={"data.batch_size": 96})] == [
            "asset_imtlg", "asset_pcgrad", "asset_mgda",
        ]  # fmt: skip
