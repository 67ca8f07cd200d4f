"""Time fetch_history over a 2,000- and a 10,000-call account against following next by hand.

Usage::

    python benchmarks/bench_history.py            # 2,000 and 10,000 calls
    python benchmarks/bench_history.py --quick    # 300 calls, a smoke run
    python benchmarks/bench_history.py --sizes 5000 --workers 4 8 --runs 3

The sandbox serves from its own process and waits 20 ms before every answer, as a remote API
would; the history is 20 calls a page behind an opaque ``next`` cursor, over 30 days plus the
vendor's 2017 example call. The baseline is what a notebook would write first, measured in the
same run: one ``requests.Session`` that follows ``next`` page by page, then
``pd.DataFrame(records)``. Ours is ``ap.fetch_history(client=..., cache=False)``: a cold read,
in parallel date windows (the default, ``workers=8``), checked to give the very frame
``calls_to_frame`` makes of the baseline's records. ``workers=1`` (our client following
``next`` alone) and other worker counts are shown for reference, and, with the local store in
a temporary folder, a first cached run and a second one (incremental: it stops at the first
page it already has). ``--latency 0`` shows the local case, where waiting is not what limits
one-page-at-a-time paging.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any

import _common


def bench(n: int, args: Any, runs: int, explicit: list[int], rows: list[list[object]]) -> None:
    """Measure one account of ``n`` calls; append its rows."""
    import pandas as pd
    import requests

    import apifonica_nb as ap

    with _common.sandbox_process(n, latency=args.latency) as sb:
        client = sb.client()
        session = requests.Session()
        auth = (sb.account_sid, sb.auth_token)

        def by_hand() -> tuple[pd.DataFrame, list[dict[str, Any]]]:
            records: list[dict[str, Any]] = []
            url: str | None = f"{sb.url}/accounts/{sb.account_sid}/calls"
            while url:
                page = session.get(url, auth=auth, timeout=30).json()
                records.extend(page["calls"])
                url = page["next"]
            return pd.DataFrame(records), records

        def measure(fn: Any, k: int) -> tuple[float, Any, int]:
            sb.reset_request_count()
            seconds, result = _common.median_of(fn, k)
            return seconds, result, sb.request_count // k

        base_s, (_, records), base_req = measure(by_hand, runs)
        expected = ap.calls_to_frame(records)
        rows.append(
            [f"{n:,}", "next by hand (requests)", f"{base_s:.2f}", runs, "1.0x", base_req, "", ""]
        )
        history = partial(ap.fetch_history, client=client, progress=False, cache=False)
        lines: list[tuple[str, dict[str, int], int]] = [
            ("fetch_history workers=1", {"workers": 1}, 1)
        ]
        lines += [(f"fetch_history workers={w}", {"workers": w}, runs) for w in explicit if w != 8]
        lines.append(("fetch_history (default, 8)", {}, runs))
        for label, kw, k in lines:
            seconds, df, req = measure(partial(history, **kw), k)
            pd.testing.assert_frame_equal(df, expected)
            paging = df.attrs["paging"]
            how = f"{paging['mode']}, {paging['workers']} workers"
            if paging["windows"]:
                how += f", {paging['windows']} windows"
            ratio = _common.ratio(base_s, seconds)
            rows.append([f"{n:,}", label, f"{seconds:.2f}", k, ratio, req, "yes", how])
        if not args.no_cache_lines:
            with _common.own_cache_dir():
                cached = partial(ap.fetch_history, client=client, progress=False)
                for label, k in (("cache=True, first run", 1), ("cache=True, next run", runs)):
                    seconds, df, req = measure(cached, k)
                    pd.testing.assert_frame_equal(df, expected)
                    how = f"{df.attrs['paging']['mode']}, {df.attrs['cache']['hits']:,} from store"
                    ratio = _common.ratio(base_s, seconds)
                    rows.append([f"{n:,}", label, f"{seconds:.2f}", k, ratio, req, "yes", how])
        session.close()
        client.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = _common.parser(__doc__)
    p.add_argument("--sizes", type=int, nargs="*", help="calls in the account (2000 10000)")
    p.add_argument("--workers", type=int, nargs="*", help="other workers to time (4)")
    p.add_argument("--runs", type=int, help="runs per measurement (default 3)")
    p.add_argument("--latency", type=float, default=0.02, help="sandbox seconds per request")
    p.add_argument("--no-cache-lines", action="store_true", help="skip the cached runs")
    args = p.parse_args(argv)
    sizes = args.sizes or ([300] if args.quick else [2000, 10_000])
    explicit = args.workers if args.workers is not None else ([] if args.quick else [4])
    runs = args.runs or (1 if args.quick else 3)
    print(_common.machine())
    print(f"sandbox in its own process, {args.latency * 1000:.0f} ms per request")
    rows: list[list[object]] = []
    for n in sizes:
        bench(n, args, runs, explicit, rows)
    _common.print_table(
        "fetch_history vs following next by hand (seconds are medians of 'runs')",
        ["calls", "how", "seconds", "runs", "ratio", "requests", "same frame", "paging"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
