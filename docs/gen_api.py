"""Write docs/api.md from the docstrings of ``RunRepository`` and of the errors in
``mangodb.errors``: ``python docs/gen_api.py``. ``tests/test_docs.py`` fails when a public
method is missing from the reference, ``tests/test_public_errors.py`` when an error is."""

from __future__ import annotations

import inspect
from pathlib import Path

from mangodb import RunRepository, errors

HEADER = """# API reference: `RunRepository`

The one object callers hold (`from mangodb import RunRepository`). Every public method is one
unit of work (its own transaction), takes and returns Pydantic DTOs from `mangodb.dto`, and
raises only `mangodb.errors.MangoDBError` subclasses. Generated from the docstrings by
`python docs/gen_api.py`; `tests/test_docs.py` keeps it complete.
"""


# For members whose docstring is still missing in the source.
FALLBACK = {
    "close": "Dispose of the engine and its pooled connections.",
    "dialect": "The database dialect: ``'sqlite'`` or ``'postgresql'``.",
    "run_exists": "True when a run with this run id is stored.",
}


def public_methods() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(RunRepository)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    )


ERRORS_HEADER = """## Errors

Every error mangodb raises derives from `MangoDBError` (import them from `mangodb.errors`;
the common ones also from `mangodb`). Catch the most specific one you can act on: invalid
input is `ValidationError` (also a `ValueError`), a missing run `RunNotFound`, a full disk
`StorageFull` (a `DatabaseUnavailable`: free space, then retry). The CLI prints them as one
line on stderr and exits with 1, or 3 for `DatabaseUnavailable` and `SchemaError`.

| error | derives from | raised when |
|---|---|---|
"""


def error_classes() -> list[type[errors.MangoDBError]]:
    """The error classes of ``mangodb.errors``, in the order they are defined."""
    return [
        member
        for member in vars(errors).values()
        if isinstance(member, type) and issubclass(member, errors.MangoDBError)
    ]


def render_errors() -> str:
    rows = []
    for error in error_classes():
        bases = ", ".join(f"`{base.__name__}`" for base in error.__bases__)
        summary = " ".join((inspect.getdoc(error) or "").split())
        rows.append(f"| `{error.__name__}` | {bases} | {summary} |")
    return ERRORS_HEADER + "\n".join(rows) + "\n"


def render() -> str:
    parts = [HEADER, render_errors(), "## Methods\n"]
    for name in public_methods():
        member = inspect.getattr_static(RunRepository, name)
        if isinstance(member, property):
            signature, doc = "", inspect.getdoc(member) or ""
        else:
            function = getattr(RunRepository, name)
            signature = (
                str(inspect.signature(function)).replace("(self, ", "(").replace("(self)", "()")
            )
            doc = inspect.getdoc(function) or ""
        text = doc or FALLBACK.get(name, "(undocumented)")
        parts.append(f"### `{name}`\n\n```python\n{name}{signature}\n```\n\n{text}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    Path(__file__).with_name("api.md").write_text(render(), encoding="utf-8")
