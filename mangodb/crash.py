"""Crash classification and fingerprints, so equal crashes group together.

A fingerprint hashes the error type and the message with the volatile parts (numbers,
hex addresses, paths, quoted values) masked, so "CUDA out of memory. Tried to allocate
2.00 GiB" and "... 1.50 GiB" are one crash.
"""

from __future__ import annotations

import hashlib
import re

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "cuda_oom",
        re.compile(
            r"CUDA out of memory|OutOfMemoryError|"
            r"CUBLAS_STATUS_ALLOC_FAILED",
            re.I,
        ),
    ),
    ("host_oom", re.compile(r"\bOOM[- ]?kill|Killed process \d+|Cannot allocate memory", re.I)),
    ("nccl", re.compile(r"\bNCCL\b|ProcessGroupNCCL|ncclInternalError|ncclSystemError")),
    (
        "nan_loss",
        re.compile(
            r"\b(nan|inf)\b[^\n]{0,40}\bloss\b|"
            r"\bloss\b[^\n]{0,40}\b(nan|inf)\b",
            re.I,
        ),
    ),
    (
        "spot_interruption",
        re.compile(
            r"spot[- ]instance[- ]interruption|instance-action|"
            r"spot interruption|marked for termination",
            re.I,
        ),
    ),
    ("cuda_error", re.compile(r"CUDA error|device-side assert|cudaError", re.I)),
    ("disk_full", re.compile(r"No space left on device", re.I)),
)
_EXCEPTION = re.compile(
    r"^(?:[\w.]+\.)?(?P<type>[A-Z]\w*(?:Error|Exception|Interrupt|Exit|Warning))(?::\s*(?P<msg>.*))?$",
    re.M,
)
_VOLATILE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"(?:/[\w.@+-]+)+"), "<path>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>"),
    (re.compile(r"\b[0-9a-f]{8,}\b"), "<id>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def last_exception(text: str) -> tuple[str | None, str | None]:
    """The type and message of the last Python exception line in ``text``."""
    matches = list(_EXCEPTION.finditer(text))
    if not matches:
        return None, None
    found = matches[-1]
    return found.group("type"), (found.group("msg") or "").strip() or None


def classify(text: str) -> str | None:
    """A coarse error class: cuda_oom, nccl, nan_loss, spot_interruption, ... or the Python
    exception type, or None when nothing is recognised."""
    for name, pattern in _PATTERNS:
        if pattern.search(text):
            return name
    exc_type, _ = last_exception(text)
    return exc_type


def normalize(message: str) -> str:
    for pattern, replacement in _VOLATILE:
        message = pattern.sub(replacement, message)
    return message.strip()[:500]


def fingerprint(error_type: str | None, message: str | None) -> str:
    basis = f"{error_type or ''}\n{normalize(message or '')}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
