"""``mangodb ui`` (the read-only web interface) and ``mangodb report`` (one self-contained
HTML file). Both need the ``ui`` extra; its packages are imported only when a command runs."""

from __future__ import annotations

import ipaddress
import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from mangodb.cli.app import app, console
from mangodb.cli.db import UrlOption
from mangodb.cli.render import existing_url, split_columns
from mangodb.cli.runs import ArchivedOption
from mangodb.errors import MissingExtra, ValidationError
from mangodb.repository import RunRepository


def _ui_module() -> Any:
    try:
        import uvicorn

        import mangodb.ui
    except ImportError as error:
        raise MissingExtra(error.name or "fastapi", "ui") from error
    return mangodb.ui, uvicorn


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, no_auth: bool) -> None:
    """Any address but loopback serves every run to whoever reaches it: only with a token,
    or when the caller says so."""
    if not is_loopback(host) and not token and not no_auth:
        raise ValidationError(
            f"refusing to serve on {host} without --token: anyone who can reach it could read "
            "every run; pass --token TOKEN (or --no-auth-i-know)"
        )


@app.command("ui")
def ui(
    url: UrlOption = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the interface in a browser.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            help="Require this token on every request (Authorization: Bearer, or ?token= "
            "once, then a cookie). Needed to bind any address but loopback.",
            envvar="MANGODB_UI_TOKEN",
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth-i-know", help="Serve a non-loopback address without a token."),
    ] = False,
) -> None:
    """Serve a read-only web interface to the runs (pages and a JSON API under /api/)."""

    check_exposure(host, token, no_auth)
    module, uvicorn = _ui_module()
    application = module.create_app(existing_url(url), token=token)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"mangodb ui on {address} (read-only; Ctrl-C to stop)", highlight=False,
                  markup=False)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(address,)).start()
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command("report")
def report(
    where: Annotated[
        str | None, typer.Argument(help="A query selecting the runs (default: all).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    baseline: Annotated[
        str | None, typer.Option(help="Baseline method of the method report.")
    ] = None,
    keys: Annotated[
        str | None, typer.Option(help="Comma-separated history keys to draw per method.")
    ] = None,
    archived: ArchivedOption = False,
    url: UrlOption = None,
) -> None:
    """Write one self-contained HTML file (runs, methods, curves, crashes) that opens with
    no network: attach it to an e-mail or a pull request."""

    if out.is_dir():
        raise ValidationError(f"--out {out} is a directory; give a file name")
    if not out.parent.is_dir():
        raise ValidationError(f"--out {out}: directory {out.parent} does not exist")
    module, _ = _ui_module()
    with RunRepository.connect(existing_url(url), read_only=True, source="cli") as repo:
        written = module.write_report(
            repo,
            out,
            where=where,
            baseline=baseline,
            keys=split_columns(keys) or (),
            include_archived=archived,
        )
    console.print(f"wrote {written['path']} ({written['bytes'] / 1024:.0f} KB)",
                  highlight=False, markup=False)
