"""Fetch under a real rate limit: the adaptive client against today's fixed 8 workers.

Usage::

    python benchmarks/bench_rate_limit.py            # the issue's sizes (about 5 minutes)
    python benchmarks/bench_rate_limit.py --quick    # tiny sizes, a smoke run

The sandbox serves from its own process, waits 20 ms before every answer and enforces a token
bucket per account (``rate_limit=50``, burst one second's worth): beyond it, 429 with
``Retry-After`` = the seconds until the next token. Each case runs the default client
(``ap.Client``: shared gate, adaptive rate) and, in the same run, the fixed-worker baseline
(``adaptive=False``: 8 workers, each request retrying its own 429s under the retry budget, as
before this change). Cases:

- ``limit``: ``fetch_calls`` of N SIDs under 50 requests/s;
- ``halved``: the same, the limit halved (50 -> 25) a few seconds in; ``settle s`` is how long
  after the change the requests sent (429s included, over a sliding second) are back at or
  under the new limit;
- ``no limit``: ``fetch_calls`` of 600 SIDs with no limit, against a sequential
  ``requests.Session`` loop (the ratio column; the only case with a ratio to a naive loop);
- ``history``: ``fetch_history`` of a 20,000-call account under 50 requests/s.

``req/s`` counts the requests the server accepted per second, ``% of limit`` divides the
requests accepted by those the limit allowed over the run (its rate times the seconds, halved
after a change; a run starts with a full bucket, so it can pass 100 %), ``429s`` is the share
of all requests refused, ``calls`` is rows fetched / SIDs asked (every call once: equal).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import _common

LIMIT = 50.0


class Sampler:
    """Sample the server's request count a few times a second, from a thread."""

    def __init__(self, sb: Any, every: float = 0.1) -> None:
        self.sb = sb
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.sb.request_count))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def settle(self, changed: float, limit: float) -> float | None:
        """Seconds after ``changed`` until the requests sent over a sliding second (429s
        included) are first at or under ``limit`` (None: not within the run)."""
        after = [(t, n) for t, n in self.samples if t >= changed]
        for i, (t, n) in enumerate(after):
            j = next((k for k in range(i, len(after)) if after[k][0] >= t + 1.0), None)
            if j is None:
                return None
            sent = (after[j][1] - n) / (after[j][0] - t)
            if sent <= limit * 1.05:  # 5 %: the sampling's own jitter
                return after[j][0] - changed
        return None


def run_case(
    sb: Any,
    fetch: Callable[[], Any],
    *,
    limit: float | None,
    wanted: int,
    halve_after: float | None = None,
) -> dict[str, Any]:
    """Run one fetch against ``sb`` from a full bucket; return its row's numbers."""
    sb.set_rate_limit(limit)
    if limit is not None:
        time.sleep(1.0 + 1.0)  # an idle second refills the bucket (burst = 1 s of requests)
    sb.reset_request_count()
    changed: list[float] = []
    timer = None
    if halve_after is not None and limit is not None:

        def halve() -> None:
            sb.set_rate_limit(limit / 2)
            changed.append(time.perf_counter())

        timer = threading.Timer(halve_after, halve)
    error = ""
    with Sampler(sb) as sampler:
        started = time.perf_counter()
        if timer is not None:
            timer.start()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # failures are counted below, not shown
                df = fetch()
        except Exception as exc:  # the baseline may give up: that is a result
            df = getattr(exc, "frame", None)
            error = type(exc).__name__
        took = time.perf_counter() - started
    if timer is not None:
        timer.cancel()
    requests, refused = sb.request_count, sb.rate_limited
    rows = 0 if df is None else len(df)
    unique = 0 if df is None else int(df["call_sid"].nunique())
    failed = 0 if df is None else len(df.attrs.get("failures", ()))
    settle = sampler.settle(changed[0], limit / 2) if changed and limit else None
    # The requests the limit allowed over the run: limit x seconds, half of it after a change.
    allowed = None
    if limit is not None:
        full = (changed[0] - started) if changed else took
        allowed = limit * full + limit / 2 * (took - full)
    return {
        "took": took,
        "allowed": allowed,
        "accepted_rate": (requests - refused) / took,
        "accepted": requests - refused,
        "share_429": refused / requests if requests else 0.0,
        "requests": requests,
        "rows": rows,
        "unique": unique,
        "wanted": wanted,
        "failed": failed,
        "error": error,
        "settle": settle,
    }


def row(case: str, client: str, r: dict[str, Any], limit: float | None, ratio: str) -> list[Any]:
    pct = f"{100 * r['accepted'] / r['allowed']:.0f}%" if r["allowed"] else "n/a"
    lost = r["wanted"] - r["unique"]
    note = f"{r['failed']} failed" if r["failed"] else ""
    if r["error"]:
        note = f"raised {r['error']}" + (f", {note}" if note else "")
    if lost and not note:
        note = f"{lost} missing"
    settle = "" if r["settle"] is None else f"{r['settle']:.1f}"
    return [
        case,
        client,
        f"{r['accepted_rate']:.1f}",
        pct,
        f"{100 * r['share_429']:.1f}%",
        f"{r['took']:.1f}",
        f"{r['rows']}/{r['wanted']}",
        settle,
        ratio,
        note or "-",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = _common.parser(__doc__)
    p.add_argument("--sids", type=int, help="SIDs under the limit (default 2000)")
    p.add_argument("--history", type=int, help="calls in the history account (default 20000)")
    p.add_argument("--latency", type=float, default=0.02, help="sandbox seconds per request")
    args = p.parse_args(argv)

    import requests

    import apifonica_nb as ap

    n = args.sids or (100 if args.quick else 2000)
    n_halved = max(n // 2, 60)
    n_free = 60 if args.quick else 600
    n_history = args.history or (400 if args.quick else 20_000)
    halve_after = 1.0 if args.quick else 8.0
    free_runs = 1 if args.quick else 3
    print(_common.machine())
    print(
        f"sandbox in its own process, {args.latency * 1000:.0f} ms per request, "
        f"rate limit {LIMIT:g} requests/s per account (burst {LIMIT:g})"
    )
    rows: list[list[Any]] = []
    with _common.sandbox_process(max(n, n_free), latency=args.latency) as sb:
        sids = list(sb.call_sids[:n])
        cases = (("limit 50/s", n, None), ("halved 50->25", n_halved, halve_after))
        for case, count, halve in cases:
            asked = sids[:count]
            results = {}
            for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
                client = sb.client(adaptive=adaptive)
                results[label] = run_case(
                    sb,
                    lambda c=client, a=asked: ap.fetch_calls(
                        a, client=c, progress=False, cache=False
                    ),
                    limit=LIMIT,
                    wanted=count,
                    halve_after=halve,
                )
                client.close()
            base = results["fixed 8 workers"]["took"]
            for label, r in results.items():
                rows.append(row(case, label, r, LIMIT, _common.ratio(base, r["took"])))

        # No limit: the default client against a sequential requests loop, medians.
        free = list(sb.call_sids[:n_free])
        session = requests.Session()
        auth = (sb.account_sid, sb.auth_token)
        base_url = f"{sb.url}/accounts/{sb.account_sid}/calls/"
        sb.set_rate_limit(None)
        loop_s = statistics.median(
            _common.timed(lambda: [session.get(base_url + s, auth=auth).json() for s in free])[0]
            for _ in range(free_runs)
        )
        session.close()
        rows.append(
            [
                *("no limit", "sequential requests loop", f"{n_free / loop_s:.1f}", "n/a"),
                *("0.0%", f"{loop_s:.1f}", f"{n_free}/{n_free}", "", "1.0x", "-"),
            ]
        )
        for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
            runs = []
            for _ in range(free_runs):
                client = sb.client(adaptive=adaptive)
                runs.append(
                    run_case(
                        sb,
                        lambda c=client: ap.fetch_calls(
                            free, client=c, progress=False, cache=False
                        ),
                        limit=None,
                        wanted=n_free,
                    )
                )
                client.close()
            r = sorted(runs, key=lambda x: x["took"])[len(runs) // 2]
            rows.append(row("no limit", label, r, None, _common.ratio(loop_s, r["took"])))

    with _common.sandbox_process(n_history, latency=args.latency) as sb:
        results = {}
        for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
            client = sb.client(adaptive=adaptive)
            results[label] = run_case(
                sb,
                lambda c=client: ap.fetch_history(client=c, progress=False, cache=False),
                limit=LIMIT,
                wanted=n_history,
            )
            client.close()
        base = results["fixed 8 workers"]["took"]
        for label, r in results.items():
            case = f"history {n_history:,}"
            rows.append(row(case, label, r, LIMIT, _common.ratio(base, r["took"])))

    _common.print_table(
        "fetch under a rate limit (ratio: time of the row's baseline / time; no limit: medians)",
        [
            "case",
            "client",
            "req/s",
            "% of limit",
            "429s",
            "time s",
            "calls",
            "settle s",
            "ratio",
            "note",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
