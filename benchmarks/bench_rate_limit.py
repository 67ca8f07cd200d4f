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
CASES = ("limit", "halved", "free", "history")


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


def versus(results: dict[str, dict[str, Any]], r: dict[str, Any]) -> str:
    """The time ratio to the fixed workers, when they fetched every call ("lost" if not)."""
    base = results["fixed 8 workers"]
    if base["error"] or base["failed"] or base["unique"] < base["wanted"]:
        return "base lost calls"
    return _common.ratio(base["took"], r["took"])


def row(case: str, client: str, r: dict[str, Any], ratio: str) -> list[Any]:
    """One line of the table."""
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


def fetch_calls_case(
    sb: Any, case: str, sids: list[str], *, halve_after: float | None
) -> list[list[Any]]:
    """``fetch_calls`` of ``sids`` under the limit: the fixed workers, then the adaptive client."""
    import apifonica_nb as ap

    results = {}
    for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
        client = sb.client(adaptive=adaptive)
        results[label] = run_case(
            sb,
            lambda c=client: ap.fetch_calls(sids, client=c, progress=False, cache=False),
            limit=LIMIT,
            wanted=len(sids),
            halve_after=halve_after,
        )
        client.close()
    return [row(case, label, r, versus(results, r)) for label, r in results.items()]


def free_case(sb: Any, sids: list[str], runs: int) -> list[list[Any]]:
    """No limit: the fixed workers and the default client against a sequential loop, medians."""
    import requests

    import apifonica_nb as ap

    sb.set_rate_limit(None)
    session = requests.Session()
    auth = (sb.account_sid, sb.auth_token)
    base_url = f"{sb.url}/accounts/{sb.account_sid}/calls/"
    loop_s = statistics.median(
        _common.timed(lambda: [session.get(base_url + s, auth=auth).json() for s in sids])[0]
        for _ in range(runs)
    )
    session.close()
    n = len(sids)
    rows = [
        [
            *("no limit", "sequential requests loop", f"{n / loop_s:.1f}", "n/a"),
            *("0.0%", f"{loop_s:.1f}", f"{n}/{n}", "", "1.0x", "-"),
        ]
    ]
    for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
        results = []
        for _ in range(runs):
            client = sb.client(adaptive=adaptive)
            results.append(
                run_case(
                    sb,
                    lambda c=client: ap.fetch_calls(sids, client=c, progress=False, cache=False),
                    limit=None,
                    wanted=n,
                )
            )
            client.close()
        r = sorted(results, key=lambda x: x["took"])[len(results) // 2]
        rows.append(row("no limit", label, r, _common.ratio(loop_s, r["took"])))
    return rows


def history_case(n_calls: int, latency: float) -> list[list[Any]]:
    """``fetch_history`` of an ``n_calls`` account under the limit, both clients."""
    import apifonica_nb as ap

    rows = []
    with _common.sandbox_process(n_calls, latency=latency) as sb:
        results = {}
        for label, adaptive in (("fixed 8 workers", False), ("adaptive", True)):
            client = sb.client(adaptive=adaptive)
            results[label] = run_case(
                sb,
                lambda c=client: ap.fetch_history(client=c, progress=False, cache=False),
                limit=LIMIT,
                wanted=len(sb.call_sids),
            )
            client.close()
        for label, r in results.items():
            rows.append(row(f"history {n_calls:,}", label, r, versus(results, r)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = _common.parser(__doc__)
    p.add_argument("--sids", type=int, help="SIDs under the limit (default 2000)")
    p.add_argument("--history", type=int, help="calls in the history account (default 20000)")
    p.add_argument("--latency", type=float, default=0.02, help="sandbox seconds per request")
    p.add_argument(
        "--cases", nargs="*", choices=CASES, default=list(CASES), help="cases to run (all)"
    )
    args = p.parse_args(argv)

    n = args.sids or (100 if args.quick else 2000)
    n_halved = max(n // 2, 60)
    n_free = 60 if args.quick else 600
    n_history = args.history or (400 if args.quick else 20_000)
    print(_common.machine())
    print(
        f"sandbox in its own process, {args.latency * 1000:.0f} ms per request, "
        f"rate limit {LIMIT:g} requests/s per account (burst {LIMIT:g})"
    )
    rows: list[list[Any]] = []
    with _common.sandbox_process(max(n, n_free), latency=args.latency) as sb:
        sids = list(sb.call_sids)
        if "limit" in args.cases:
            rows += fetch_calls_case(sb, "limit 50/s", sids[:n], halve_after=None)
        if "halved" in args.cases:
            halve_after = 1.0 if args.quick else 8.0
            rows += fetch_calls_case(sb, "halved 50->25", sids[:n_halved], halve_after=halve_after)
        if "free" in args.cases:
            rows += free_case(sb, sids[:n_free], 1 if args.quick else 3)
    if "history" in args.cases:
        rows += history_case(n_history, args.latency)
    _common.print_table(
        "fetch under a rate limit (ratio: the baseline's time / the row's; no limit: medians)",
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
