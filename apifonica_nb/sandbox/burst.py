"""The seeded account's toll-fraud-like night: a burst of calls to a premium destination.

Toll fraud is the expensive surprise of a telephone account: someone gets hold of it and, in
one night, places many long calls to a costly destination the account rarely calls. The
default sandbox account (``fraud_burst=True``) has one such night, so the anomaly detection
of the demo finds something; ``fraud_burst=False`` gives the same account without it.

The burst is drawn from its own random stream and its calls are *added* to the account's
other calls, which stay exactly as they are without the burst. Its shape: two ordinary calls
to Cuba (``+53``, 0.95 EUR a minute, a destination the account otherwise never calls) two
and three weeks before the clock anchor, then, six days before the anchor between 01:00 and
03:30 UTC, ``burst_size(calls)`` answered outbound calls of 8 to 25 minutes to three Cuban
numbers, several at once.
"""

from __future__ import annotations

import numpy as np

from apifonica_nb.sandbox.data import _OWN_WEIGHTS, _TIMEOUTS, _numbers, _rng

__all__ = ["PREMIUM_COUNTRY", "PREMIUM_RATE", "burst_calls", "burst_size"]

PREMIUM_COUNTRY = "CU"
#: Outbound EUR per minute to the premium destination.
PREMIUM_RATE = 0.95
_PREFIXES = (("5352", 6), ("5354", 6), ("5358", 6))
_STREAM = 5  # random stream of the burst (the account's calls use streams 1 to 4)
_DAY = 86400


def burst_size(calls: int) -> int:
    """Return how many calls the fraud night adds to an account of ``calls`` calls (0 below 100)."""
    if calls < 100:
        return 0
    return min(60, max(20, round(calls * 0.05))) + 2  # the burst and the two earlier calls


def burst_calls(*, seed: int, calls: int, anchor: int) -> dict[str, np.ndarray]:
    """Return the added calls' columns (the names ``generate_account`` uses; empty below 100).

    ``created``, ``started`` and ``ended`` are epoch seconds; ``own`` indexes the account's
    numbers; ``ext`` is the called number; the others are as in the account's own columns.
    """
    n = burst_size(calls)
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        names = ("created", "started", "ended", "own", "timeout", "lag")
        return {**dict.fromkeys(names, empty), "ext": np.zeros(0, dtype=str), "rate": empty / 1}
    rng = _rng(seed, _STREAM)
    night = (anchor // _DAY - 6) * _DAY + 3600  # 01:00 UTC, six days before the anchor
    earlier = anchor // _DAY * _DAY - np.array([21, 14]) * _DAY + 3600 * np.array([10, 15])
    created = np.concatenate(
        [earlier + rng.integers(0, 3600, size=2), night + rng.integers(0, 9000, size=n - 2)]
    )[:n]
    setup = rng.integers(3, 9, size=n)
    talk = np.concatenate([rng.integers(60, 240, size=2), rng.integers(480, 1500, size=n - 2)])[:n]
    which = rng.integers(0, len(_PREFIXES), size=n)
    numbers = np.array(_numbers(rng, list(_PREFIXES)))
    return {
        "created": created.astype(np.int64),
        "started": (created + setup).astype(np.int64),
        "ended": (created + setup + talk).astype(np.int64),
        "ext": numbers[which],
        "own": rng.choice(len(_OWN_WEIGHTS), size=n, p=_OWN_WEIGHTS),
        "timeout": np.full(n, int(_TIMEOUTS[2])),
        "lag": rng.integers(3, 61, size=n),
        "rate": np.full(n, PREMIUM_RATE),
    }
