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


TOURS = [DOCS / "cli.md"]
README = DOCS.parent / "README.md"
if README.exists() and "```console" in README.read_text(encoding="utf-8"):
    TOURS.append(README)  # the README's tour is checked the same way once it has one


@pytest.mark.parametrize("path", TOURS, ids=lambda p: p.name)
def test_console_blocks_show_real_output(path: Path) -> None:
    tour = load("tour")
    markdown = path.read_text(encoding="utf-8")
    env: dict[str, str] = {}
    blocks = tour.blocks(markdown)
    assert blocks
    with tour.scratch_directory():
        for block in blocks:
            expected = tour.normalize(block)
            actual = tour.normalize(tour.execute(block, env))
            assert actual == expected, f"{path.name} is stale: run python docs/tour.py {path.name}"


def test_tour_keeps_the_output_of_commands_it_does_not_run() -> None:
    tour = load("tour")
    body = "$ pip install mangodb\nSuccessfully installed mangodb\n$ export X=1\n"
    env: dict[str, str] = {}
    assert tour.execute(body, env) == body
    assert env == {"X": "1"}


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


def test_repository_module_lists_every_public_method() -> None:
    """mangodb/repository.py is the table of contents of the API: its class docstring names
    each public method once, with a summary, and nothing else."""
    doc = RunRepository.__doc__ or ""
    listed = re.findall(r"^        (\w+) {2,}\S", doc, re.M)
    public = sorted(n for n in dir(RunRepository) if not n.startswith("_"))
    assert sorted(listed) == public
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
