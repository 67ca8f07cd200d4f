"""Time fetch_calls over N SIDs against a sequential requests.Session loop, at 20 ms latency.

Usage::

    python benchmarks/bench_batch.py            # N = 600 and 2,000
    python benchmarks/bench_batch.py --quick    # N = 60, a smoke run
    python benchmarks/bench_batch.py --sizes 1000 --workers 4 8 16 --runs 3

The sandbox serves from its own process and waits 20 ms before every answer, as a remote API
would. The baseline is what a notebook would write first, measured in the same run on the
same SIDs: one ``requests.Session``, ``GET /calls/{sid}`` for each SID in turn, then
``pd.DataFrame(records)``. Ours is ``ap.fetch_calls(sids, workers=W, cache=False)`` (a cold
fetch: the local store is bypassed), which also types every column; its frame is checked to
equal ``calls_to_frame`` of the baseline's records. The bound at W workers is W times.
"""

from __future__ import annotations

import sys
from functools import partial

import _common


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = _common.parser(__doc__)
    p.add_argument("--sizes", type=int, nargs="*", help="numbers of SIDs (default 600 2000)")
    p.add_argument("--workers", type=int, nargs="*", help="fetch_calls workers (default 8)")
    p.add_argument("--runs", type=int, help="runs per measurement (default 3; baseline 1 at 2k+)")
    p.add_argument("--latency", type=float, default=0.02, help="sandbox seconds per request")
    args = p.parse_args(argv)

    import pandas as pd
    import requests

    import apifonica_nb as ap

    sizes = args.sizes or ([60] if args.quick else [600, 2000])
    workers = args.workers or [8]
    print(_common.machine())
    print(f"sandbox in its own process, {args.latency * 1000:.0f} ms per request")
    rows: list[list[object]] = []
    with _common.sandbox_process(max(sizes), latency=args.latency) as sb:
        client = sb.client()
        session = requests.Session()
        auth = (sb.account_sid, sb.auth_token)
        base = f"{sb.url}/accounts/{sb.account_sid}/calls/"

        def baseline(sids: list[str]) -> tuple[pd.DataFrame, list[dict[str, object]]]:
            records = [session.get(base + sid, auth=auth, timeout=30).json() for sid in sids]
            return pd.DataFrame(records), records

        for n in sizes:
            sids = list(sb.call_sids[:n])
            runs = args.runs or (1 if args.quick else 3)
            base_runs = 1 if (args.quick or n >= 2000) and not args.runs else runs
            sb.reset_request_count()
            base_s, (_, records) = _common.median_of(partial(baseline, sids), base_runs)
            base_requests = sb.request_count // base_runs
            expected = ap.calls_to_frame(records)
            for w in workers:
                sb.reset_request_count()
                fetch = partial(
                    ap.fetch_calls, sids, client=client, workers=w, progress=False, cache=False
                )
                ours_s, df = _common.median_of(fetch, runs)
                ours_requests = sb.request_count // runs
                pd.testing.assert_frame_equal(df, expected)
                rows.append(
                    [
                        f"{n:,}",
                        w,
                        f"{base_s:.2f}",
                        base_runs,
                        f"{ours_s:.2f}",
                        runs,
                        _common.ratio(base_s, ours_s),
                        f"{w}x",
                        f"{n / ours_s:,.0f}",
                        f"{base_requests}/{ours_requests}",
                        "yes",
                    ]
                )
        session.close()
        client.close()
    _common.print_table(
        "fetch_calls vs a sequential requests.Session loop (seconds are medians)",
        [
            "N",
            "workers",
            "baseline s",
            "runs",
            "fetch_calls s",
            "runs",
            "ratio",
            "bound",
            "calls/s",
            "requests",
            "same frame",
        ],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
