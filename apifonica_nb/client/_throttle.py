"""How fast one client talks to its API origin: the shared gate and the adaptive rate.

Every attempt of every worker (a batch's, a history window's, a single call's) asks the
client's one :class:`Throttle` before it is sent and tells it how it was answered:

- **The gate.** A 429 whose ``Retry-After`` fits the retry budget closes the gate for every
  worker until then: the server said the *account* must wait, not the one request. Workers
  wait on their stop flag, so a cancel wakes them at once.
- **The rate.** Unpaced at first (the workers' number is the only limit). The first 429 starts
  a client-side token bucket (requests leave one at a time, ``1/rate`` apart) whose rate
  follows the server's answers, as TCP's congestion control and the AWS SDKs' "adaptive"
  retry mode do: a 429 cuts the rate to ``BETA`` times the *ceiling*, the rate the server
  accepted over the last second (its limit, once it refuses some); then the rate grows back
  along a cubic curve (CUBIC, RFC 9438): quickly to the ceiling, flat near it, then slowly
  beyond it, probing for more. Only a 429 to a request sent after the last cut can cut again
  (the others were sent at the old rate), and below the ceiling only when the server refuses
  a fifth of the requests (a lower limit): a stray 429 there costs nothing. A 429 with
  ``Retry-After: 0`` asks for no wait: it is retried at once and slows nothing.
- **The cap.** ``max_rate`` requests per second is never exceeded, whatever the server says.

``adaptive=False`` leaves the gate and the rate out (each request honours its own 429s, as
the fixed-worker batches of earlier versions did); ``max_rate`` applies either way.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from ..errors import ConfigurationError
from ._cancel import Stop

__all__ = ["Throttle", "check_max_rate"]

#: The rate after a cut, as a share of the rate the server accepted.
BETA = 0.9
#: CUBIC's growth constant, relative to the rate of the cut (per second cubed).
GROWTH = 0.1
#: The same beyond the rate of the cut: slower, so that probing for more costs few 429s.
PROBE = 0.01
#: The window, in seconds, over which the accepted rate and the current rate are measured.
WINDOW = 1.0
#: The slowest the adaptive rate goes (requests per second).
MIN_RATE = 0.05
#: The longest a waiting worker sleeps before it looks at the gate and the rate again.
RECHECK = 0.25


def check_max_rate(max_rate: object) -> float | None:
    """Return ``max_rate`` as a float (None: no cap), or raise ConfigurationError."""
    if max_rate is None:
        return None
    ok = isinstance(max_rate, int | float) and not isinstance(max_rate, bool)
    if not ok or not 0 < float(max_rate) < math.inf:  # type: ignore[arg-type]
        raise ConfigurationError(
            f"max_rate must be a number of requests per second > 0 (or None), got {max_rate!r}"
        )
    return float(max_rate)  # type: ignore[arg-type]


class Throttle:
    """The gate and the rate of one client (see the module docstring); thread-safe."""

    def __init__(
        self,
        *,
        adaptive: bool = True,
        max_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adaptive = bool(adaptive)
        self.max_rate = check_max_rate(max_rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._paused_until = -math.inf
        self._next_slot = -math.inf
        #: The rate the server accepted at the last cut (None: not paced yet).
        self._ceiling: float | None = None
        self._cut_at = -math.inf
        self._accepted: collections.deque[float] = collections.deque()
        self._accepted_since = 0
        self._refused_since = 0
        #: When the first answer to a request sent since the last cut came.
        self._first_fresh: float | None = None
        self._answers: collections.deque[float] = collections.deque()
        self._started: float | None = None
        #: How many times a 429 cut the rate so far.
        self.cuts = 0

    def __repr__(self) -> str:
        rate = self.rate
        shown = "unpaced" if rate is None else f"{rate:.1f}/s"
        return f"Throttle(adaptive={self.adaptive}, max_rate={self.max_rate}, rate={shown})"

    @property
    def rate(self) -> float | None:
        """The requests per second workers are paced at now (None: not paced)."""
        with self._lock:
            return self._pace(self._clock())

    def current_rate(self) -> float | None:
        """Answers per second over the last second (None before the first answer)."""
        with self._lock:
            return self._answer_rate(self._clock())

    def before_send(self, stop: Stop) -> float | None:
        """Wait until the gate is open and the rate allows a request; return the send time,
        or None when ``stop`` halted the work meanwhile."""
        while True:
            with self._lock:
                now = self._clock()
                if self._started is None:
                    self._started = self._cut_at = now
                rate = self._pace(now)
                at = max(self._paused_until, self._next_slot if rate is not None else now)
                if at <= now:
                    if rate is not None:
                        self._next_slot = max(self._next_slot, now) + 1.0 / rate
                    return now
            if stop.wait(min(at - now, RECHECK)):
                return None

    def after_answer(self, sent: float, *, refused: bool, retry_after: float | None = None) -> None:
        """Take in how a request sent at ``sent`` was answered: ``refused`` (a 429), and the
        ``Retry-After`` seconds to close the gate for (only a wait the caller will honour)."""
        with self._lock:
            now = self._clock()
            self._answers.append(now)
            _prune(self._answers, now - WINDOW)
            if not self.adaptive:
                return
            fresh = sent >= self._cut_at  # sent at the current rate, not before the last cut
            if fresh and self._first_fresh is None:
                self._first_fresh = now
            if fresh and refused:
                self._refused_since += 1
            elif fresh:
                self._accepted_since += 1
                self._accepted.append(now)
            if not refused:
                return
            if retry_after is not None and retry_after > 0:
                self._paused_until = max(self._paused_until, now + retry_after)
            if fresh:
                self._maybe_cut(now)

    # -- under the lock ------------------------------------------------------------------------
    def _adaptive_rate(self, now: float) -> float | None:
        """CUBIC's rate since the last cut: BETA × ceiling at the cut, back to it after K s."""
        if self._ceiling is None:
            return None
        ceiling = self._ceiling
        k = ((1.0 - BETA) / GROWTH) ** (1.0 / 3.0)
        t = now - self._cut_at - k
        # Back to the ceiling quickly; beyond it, probe slowly (each probe costs a refusal).
        grown = ceiling * (1.0 + (GROWTH if t < 0 else PROBE) * t**3)
        # Past the ceiling, grow only while the workers use the rate (no burst after a pause).
        used = 2.0 * len(self._answers) / WINDOW
        return max(MIN_RATE, min(grown, max(ceiling, used)))

    def _pace(self, now: float) -> float | None:
        rate = self._adaptive_rate(now) if self.adaptive else None
        if self.max_rate is not None:
            rate = self.max_rate if rate is None else min(rate, self.max_rate)
        return rate

    def _maybe_cut(self, now: float) -> None:
        """Cut the rate after a 429 to a request sent since the last cut, if it is due.

        Due: the first 429, one while probing past the last limit found, or a fifth of the
        requests refused (a lower limit). A rare 429 below the last limit is a stray one.
        The new ceiling: the rate the server accepted (its limit, once it refuses some), at
        most the rate sent.
        """
        refused, total = self._refused_since, self._refused_since + self._accepted_since
        heavy = refused >= 5 and refused >= 0.2 * total
        current = self._adaptive_rate(now)
        probing = current is not None and self._ceiling is not None and current >= self._ceiling
        if self._ceiling is not None and not (heavy or probing):
            return
        _prune(self._accepted, now - WINDOW)
        sent = current if current is not None else self._answer_rate(now)
        accepted = self._accepted_rate(now)
        ceiling = sent if accepted is None or sent is None else min(sent, accepted)
        if ceiling is None:
            return  # nothing answered yet to learn a rate from: the gate alone holds them
        self._ceiling = max(MIN_RATE, ceiling)
        self._cut_at = now
        self._accepted.clear()
        self._first_fresh = None
        self._accepted_since = self._refused_since = 0
        self.cuts += 1

    def _answer_rate(self, now: float) -> float | None:
        if self._started is None or not self._answers:
            return None
        _prune(self._answers, now - WINDOW)
        return len(self._answers) / max(min(WINDOW, now - self._started), 0.05)

    def _accepted_rate(self, now: float) -> float | None:
        """The rate the server accepted requests sent since the last cut, over the last
        second (None: too few answers to tell).

        Measured from the first of those answers, not from the cut: the answers of the first
        round trip after it belong to requests sent before.
        """
        n_ok = len(self._accepted)
        if self._first_fresh is None or n_ok < 2:
            return None
        start = max(self._first_fresh, now - WINDOW)
        span = now - start
        return n_ok / span if span >= 0.05 else None


def _prune(times: collections.deque[float], before: float) -> None:
    while times and times[0] < before:
        times.popleft()
