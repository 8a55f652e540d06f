"""Fuzzed input on both dialects: every public ``RunRepository`` method and every CLI command
given arbitrary arguments (wrong types, lone surrogates, NUL, 10 MB strings, cyclic documents,
huge and non-finite numbers, steps outside int64). Only documented errors escape (the
``MangoDBError`` hierarchy: docs/api.md promises nothing else), the CLI answers with its
documented exit codes and never a traceback, no call hangs, and the database passes its
invariants afterwards (``fault_invariants.database_problems``).

``tests/test_public_errors.py`` fuzzes the same methods on the shared demo database; its
strategies (``PLAUSIBLE``, ``calls``) are reused here, with the extremes above added, on a
database of the fault tests' own on each dialect, which is checked once the fuzz is over.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import test_public_errors as public
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from faults.fault_cluster import PgCluster
from faults.fault_figures import record, sized
from faults.fault_invariants import database_problems
from mangodb import MangoDBError, ObjectiveCreate, RunCreate, RunRepository
from mangodb.cli import app

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

FUZZ = settings(
    max_examples=sized(4, 60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    database=None,
)  # fmt: skip
CALL_LIMIT_S = 60.0  # one call (or one command) that takes longer has hung
COUNTS: dict[str, int] = {"method calls": 0, "typed errors": 0, "command runs": 0}

# -- extremes, on top of test_public_errors' junk --------------------------------------------
TEN_MB = "x" * 10_000_000
INT64_OUT = [2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]


def _cyclic() -> dict[str, Any]:
    document: dict[str, Any] = {"k": 1}
    document["loop"] = [document]
    return document


EXTREME_SCALARS = st.sampled_from(
    [TEN_MB, "\ud800", "a\udfffb", "nul\x00byte", "\x00", *INT64_OUT, math.inf, -math.inf,
     math.nan, 1e308, -0.0, 5e-324]
)  # fmt: skip
EXTREMES = st.one_of(
    EXTREME_SCALARS,
    st.builds(_cyclic),
    st.builds(lambda v: {"k": v}, EXTREME_SCALARS),
    st.builds(lambda v: {v if isinstance(v, str) else "k": 1}, EXTREME_SCALARS),
    st.builds(lambda v: [v], EXTREME_SCALARS),
    st.builds(lambda s, v: {"loss": ([s], [v])}, st.sampled_from(INT64_OUT), EXTREME_SCALARS),
    st.builds(lambda s: [{"_step": s, "loss": 1.0}], st.sampled_from(INT64_OUT)),
    st.builds(lambda v: {"a": ("<", v)}, EXTREME_SCALARS),
)


@st.composite
def fuzzed_calls(draw: st.DrawFn, method: str) -> tuple[list[Any], dict[str, Any]]:
    """test_public_errors' arguments for ``method``, one of them swapped for an extreme."""
    args, kwargs = draw(public.calls(method))
    if draw(st.booleans()) and (args or kwargs):
        spot = draw(st.integers(0, len(args) + len(kwargs) - 1))
        value = draw(EXTREMES)
        if spot < len(args):
            args[spot] = value
        else:
            kwargs[sorted(kwargs)[spot - len(args)]] = value
    return args, kwargs


# -- no call may hang --------------------------------------------------------------------------
class Hung(BaseException):
    """Raised in the main thread when one call exceeds CALL_LIMIT_S (a BaseException, so no
    ``except Exception`` in the code under test can swallow it)."""


def _on_watchdog(_signum: int, _frame: FrameType | None) -> None:
    raise Hung(f"a call took more than {CALL_LIMIT_S:.0f} s")


@contextlib.contextmanager
def time_limit(seconds: float = CALL_LIMIT_S) -> Iterator[None]:
    """SIGUSR1 to the main thread after ``seconds`` (SIGALRM belongs to pytest-timeout)."""
    main = threading.get_ident()
    previous = signal.signal(signal.SIGUSR1, _on_watchdog)
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGUSR1))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


# -- one database per dialect, checked at the end ----------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> URL:
    if request.param == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path_factory.mktemp("fuzz") / "f.sqlite3"))
    else:
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        if cluster.postmaster_pid() is None:
            cluster.start()
        url = cluster.fresh_database()
    with RunRepository.connect(url) as repo:
        public._seed(repo)
        repo.insert_run(RunCreate(run_id="done", objectives=[ObjectiveCreate(name="hop")]))
        repo.update_run_status("done", "running")
        repo.update_run_status("done", "completed")
        repo.insert_run(RunCreate(run_id="live", status="running", instance_id="i-0"))
    return url


@pytest.fixture(scope="module")
def fuzz_repo(fuzz_url: URL) -> Iterator[RunRepository]:
    repo = RunRepository.connect(fuzz_url)
    try:
        yield repo
    finally:
        repo.close()


@pytest.mark.parametrize("method", public.FUZZED)
@FUZZ
@given(data=st.data())
def test_every_method_raises_only_documented_errors(
    fuzz_repo: RunRepository, method: str, data: st.DataObject
) -> None:
    args, kwargs = data.draw(fuzzed_calls(method), label="arguments")
    COUNTS["method calls"] += 1
    try:
        with time_limit():
            public._consume(getattr(fuzz_repo, method)(*args, **kwargs))
    except MangoDBError as error:
        COUNTS["typed errors"] += 1
        assert type(error) is not MangoDBError, f"untyped error: {error}"
        assert str(error).strip(), f"{type(error).__name__} without a message"


# -- every CLI command ---------------------------------------------------------------------------
def _commands() -> dict[str, Any]:
    """Every leaf command of the Typer app by its words (``db copy``); Typer vendors its own
    click, so its classes are recognised by what they have."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), ())
    return found


# `mangodb ui` serves until interrupted, so a valid fuzzed line would never return; its
# refusals (bad host without a token, bad port) are tested in tests/test_ui_cli.py.
SERVING = {"ui"}
COMMANDS = {path: command for path, command in _commands().items() if path not in SERVING}
CLI_TEXT = st.one_of(
    public.TEXTS,
    public.WHERE,
    st.sampled_from(["\udcff", "\ud800", "a\x00b", "r", "done", "live", "running", "completed",
                     "-1", "0", "1", "1e400", "nan", "inf", "-inf", str(2**63), str(-(2**64)),
                     "7d", "2024-01-01", "99999999999999999999", "loss", "hop", "csv", "x" * 5000,
                     TEN_MB]),
)  # fmt: skip


def _value(draw: st.DrawFn, param: Any, fixed: dict[str, str], tmp: Path) -> Any:
    """A value for one parameter: the test's database and loopback endpoints where a fuzzed
    value would reach elsewhere (files outside tmp, the network), fuzz everywhere else."""
    name = param.name or ""
    if name in fixed:
        return fixed[name]
    kind: Any = getattr(param, "type", None)
    if type(kind).__name__ == "Path" or name in ("out", "output", "paths"):
        leaf = draw(st.sampled_from(["out.csv", "dir", "none/x", "run-1.wandb", "x.parquet"]))
        return str(tmp / leaf)
    if hasattr(kind, "choices"):
        return draw(st.sampled_from(list(kind.choices)) | CLI_TEXT)
    return draw(CLI_TEXT)


@st.composite
def command_line(draw: st.DrawFn, path: str, url: str, tmp: Path) -> list[str]:
    command = COMMANDS[path]
    fixed = {"url": url, "endpoint_url": "http://127.0.0.1:9", "source_url": url,
             "target_url": f"sqlite:///{tmp / 'copy.sqlite3'}"}  # fmt: skip
    if path == "demo":
        fixed["url"] = str(tmp / "demo.sqlite3")
        fixed["runs"] = draw(st.sampled_from(["1", "3", "0", "-2", "1001", "abc", "1e3"]))
    line = path.split()
    positional: list[str] = []
    for param in command.params:
        if param.param_type_name == "argument":
            count = 1 if param.nargs == 1 else draw(st.integers(0 if not param.required else 1, 3))
            positional += [str(_value(draw, param, fixed, tmp)) for _ in range(count)]
            continue
        assert param.param_type_name == "option", param
        if param.name != "url" and not draw(st.booleans()):
            continue
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if param.is_flag:
            line.append(flag)
        else:
            line += [flag, str(_value(draw, param, fixed, tmp))]
    if path == "reap" and "--loop" in line:  # a loop runs until interrupted: bound it
        line += ["--iterations", draw(st.sampled_from(["1", "2", "0", "x"]))]
    return [*line, "--", *positional] if positional else line


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No command may reach beyond loopback: AWS and W&B endpoints that refuse at once, no
    W&B key (backfill-wandb then says it needs one)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.delenv("MANGODB_URL", raising=False)
    # A command run without its output option writes its default file (report.html, …) in
    # the working directory: the test's own, never the checkout's.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    (tmp_path / "run-1.wandb").write_bytes(os.urandom(512))
    return tmp_path


@pytest.mark.parametrize("path", sorted(COMMANDS))
@settings(FUZZ, max_examples=sized(3, 40))
@given(data=st.data())
def test_every_command_exits_with_a_documented_code(
    fuzz_url: URL, offline: Path, path: str, data: st.DataObject
) -> None:
    url = fuzz_url.render_as_string(hide_password=False)
    line = data.draw(command_line(path, url, offline), label="command line")
    COUNTS["command runs"] += 1
    with time_limit():
        result = CliRunner().invoke(app, line)
    unexpected = None if isinstance(result.exception, SystemExit) else result.exception
    assert unexpected is None, f"{type(unexpected).__name__}: {unexpected}"
    assert result.exit_code in {0, 1, 2, 3, 4}, result.output[-2000:]
    assert "Traceback" not in result.output, result.output[-2000:]
    if result.exit_code in (1, 3):
        assert result.stderr.startswith("error: "), result.stderr[-2000:]


def test_the_database_passes_its_invariants_after_the_fuzz(fuzz_url: URL) -> None:
    """Runs after the fuzz of its dialect (module-scoped parameters group the tests)."""
    problems = database_problems(fuzz_url)
    assert problems == [], "\n".join(problems)
    record(
        "fuzzed input (both dialects)",
        method_calls=COUNTS["method calls"],
        typed_errors=COUNTS["typed errors"],
        command_runs=COUNTS["command runs"],
        untyped_errors=0,
        tracebacks=0,
        hangs=0,
        violated_invariants=0,
    )
