"""Lazy access to the optional ``wandb`` package."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mangodb.errors import MissingExtra


def require_wandb() -> ModuleType:
    """The ``wandb`` module, or ``MissingExtra`` naming the extra to install."""
    try:
        import wandb
    except ImportError as error:
        raise MissingExtra("wandb", "wandb") from error
    return wandb


def record_class() -> Any:
    """``wandb_internal_pb2.Record`` (importing it imports wandb: ~0.4 s, paid once)."""
    require_wandb()
    from wandb.proto import wandb_internal_pb2

    return vars(wandb_internal_pb2)["Record"]
