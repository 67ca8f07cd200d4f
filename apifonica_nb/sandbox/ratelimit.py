"""The sandbox's rate limit: a token bucket per account, and the pauses it announces.

A request takes one token from its account's bucket; the bucket holds at most ``burst`` tokens
and refills at ``rate`` tokens per second. With no token left the request is refused: 429,
the API's JSON error envelope, and ``Retry-After`` = the seconds until the next token, in
decimal seconds rounded up to the millisecond (``0.014``). RFC 9110 allows whole seconds
only, but a whole second would turn a 20 ms wait at 50 requests/s into a pause of 50 requests;
a client that reads whole seconds only backs off as usual instead.

Every 429 the server sends with a ``Retry-After`` (this bucket's, or an injected
``rate_limit`` fault's) announces a pause for that account; a request of the account that
arrives before the pause ends is counted in :attr:`RateLimiter.early`. That counts the
requests a client sent while it had been told to wait (those already on their way when the
429 left are counted too: a client cannot do better than its requests in flight).

The limit can change while the server runs (:meth:`RateLimiter.set`): a bucket keeps its
tokens, clamped to the new burst.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket", "check_rate_limit", "format_retry_after"]


def check_rate_limit(rate: float | None, burst: float | None) -> tuple[float | None, float | None]:
    """Return ``(rate, burst)`` checked, or raise ValueError saying what is wrong.

    ``rate`` None means no limit; ``burst`` None means one second's worth of requests (at
    least one).
    """
    if rate is None:
        if burst is not None:
            raise ValueError("burst needs a rate_limit (requests per second)")
        return None, None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < math.inf:
        raise ValueError(f"rate_limit must be a number of requests per second > 0, got {rate!r}")
    if burst is None:
        burst = max(1.0, float(rate))
    if isinstance(burst, bool) or not isinstance(burst, int | float) or not 1 <= burst < math.inf:
        raise ValueError(f"burst must be a number of requests >= 1, got {burst!r}")
    return float(rate), float(burst)


def format_retry_after(seconds: float) -> str:
    """Format a wait as ``Retry-After`` decimal seconds, rounded up to the millisecond."""
    return f"{max(0.001, math.ceil(seconds * 1000) / 1000):.3f}"


@dataclass
class TokenBucket:
    """One account's bucket: ``burst`` tokens at most, refilled at ``rate`` per second."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take a token at ``now``; return 0.0, or the seconds until the next token."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets per account (see the module docstring); thread-safe.

    ``refused`` counts the 429s of the limit, ``early`` the requests that arrived inside a
    pause announced to their account.
    """

    def __init__(
        self,
        rate: float | None = None,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._paused_until: dict[str, float] = {}
        self.rate: float | None = None
        self.burst: float | None = None
        self.refused = 0
        self.early = 0
        self.set(rate, burst)

    def set(self, rate: float | None, burst: float | None = None) -> None:
        """Change the limit now (None: no limit); buckets keep their tokens, up to the burst."""
        rate, burst = check_rate_limit(rate, burst)
        with self._lock:
            self.rate, self.burst = rate, burst
            now = self._clock()
            for bucket in self._buckets.values():
                if rate is None or burst is None:
                    continue
                bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * bucket.rate)
                bucket.stamp, bucket.rate, bucket.burst = now, rate, burst

    def admit(self, account: str) -> float:
        """Count a request of ``account``; return 0.0 (served) or the seconds to wait (429)."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until.get(account, -math.inf):
                self.early += 1
            if self.rate is None or self.burst is None:
                return 0.0
            bucket = self._buckets.get(account)
            if bucket is None:
                bucket = TokenBucket(self.rate, self.burst, self.burst, now)
                self._buckets[account] = bucket
            wait = bucket.take(now)
            if wait > 0:
                self.refused += 1
                self._pause(account, now + wait)
            return wait

    def announce(self, account: str, seconds: float) -> None:
        """Record that ``account`` was told to wait ``seconds`` (an injected 429)."""
        with self._lock:
            self._pause(account, self._clock() + seconds)

    def _pause(self, account: str, until: float) -> None:
        self._paused_until[account] = max(until, self._paused_until.get(account, -math.inf))

    def reset_counts(self) -> None:
        """Set ``refused`` and ``early`` back to zero."""
        with self._lock:
            self.refused = self.early = 0
