"""Values for history tests: what the history can store and what it must refuse, and what
"the same value" means once stored."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import strategies as st

from mangodb.codecs.jsontext import encode
from mangodb.db.types import dumps


def fingerprint(value: Any) -> Any:
    """What the history keeps of a value: a number's float64 bits (numpy's and Decimal
    included; ints beyond float64 stay JSON), else its JSON document."""
    if isinstance(value, (float, Decimal, np.floating, np.integer)) or (
        isinstance(value, int) and abs(value) < 2**1024
    ):
        return struct.pack("<d", float(value))
    return dumps(encode(value))


def _circular() -> dict[str, Any]:
    document: dict[str, Any] = {}
    document["self"] = document
    return document


NAN_PAYLOAD = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
GOOD_VALUES = st.one_of(
    st.floats(),
    st.sampled_from([math.nan, NAN_PAYLOAD, -0.0, math.inf, 1e300]),
    st.integers(-(2**53), 2**53),
    st.integers(2**1100, 2**1101),
    st.sampled_from(["warmup", "", None, {"bins": [0, 1.5], "mean": math.nan}, [1, "a"]]),
    st.sampled_from([Decimal("0.1"), Decimal("NaN"), np.float32(0.25), np.int64(7)]),
)
BAD_VALUES = st.sampled_from(
    [
        object(),
        {1, 2},
        b"bytes",
        1 + 2j,
        {"nested": object()},
        [1.0, object()],
        "lone \ud800 surrogate",
        {"k": "\udfff"},
        10**5000,  # beyond the digits Python writes as text
        _circular(),
        Decimal("sNaN"),
    ]
)
