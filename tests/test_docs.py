"""The documentation cannot drift: the CLI tour's outputs are re-run and compared, and the API
reference names every public method of ``RunRepository``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from mangodb import RunRepository

DOCS = Path(__file__).resolve().parent.parent / "docs"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_tour_shows_real_output() -> None:
    tour = load("tour")
    markdown = (DOCS / "cli.md").read_text(encoding="utf-8")
    env: dict[str, str] = {}
    blocks = tour.blocks(markdown)
    assert len(blocks) >= 5
    with tour.scratch_directory():
        for block in blocks:
            expected = tour.normalize(block)
            actual = tour.normalize(tour.execute(block, env))
            assert actual == expected, "docs/cli.md is stale: run python docs/tour.py docs/cli.md"


def test_tour_masks_timestamps_only() -> None:
    tour = load("tour")
    assert tour.normalize("at 2026-11-29 09:53  x  \n") == "at <time>  x"
    assert tour.normalize("2026-11-29T09:53:01.5+00:00") == "<time>"


@pytest.mark.parametrize("name", sorted(n for n in dir(RunRepository) if not n.startswith("_")))
def test_api_reference_documents_every_public_method(name: str) -> None:
    reference = (DOCS / "api.md").read_text(encoding="utf-8")
    assert f"### `{name}`" in reference, "run python docs/gen_api.py"


def test_api_reference_has_no_stale_entries() -> None:
    reference = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in re.findall(r"^### `(\w+)`", reference, re.M):
        assert hasattr(RunRepository, name), f"docs/api.md documents a removed method {name}"
