"""Write docs/api.md from the docstrings of ``RunRepository``: ``python docs/gen_api.py``.
``tests/test_docs.py`` fails when a public method is missing from the reference."""

from __future__ import annotations

import inspect
from pathlib import Path

from mangodb import RunRepository

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


def render() -> str:
    parts = [HEADER]
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
