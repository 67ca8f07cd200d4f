"""Time call_family against the naive way (the whole history, filtered by parent), and count
the requests of a watch.

Usage::

    python benchmarks/bench_family.py            # 5,000 calls, 20 ms latency, 5 runs
    python benchmarks/bench_family.py --quick    # 300 calls, one run (a smoke run)

The sandbox serves from its own process and waits 20 ms before every answer. The baseline is
what a notebook did before: ``fetch_history`` of the whole account, then the rows whose
``parent_call_sid`` is the parent (or that are the parent). Ours is ``ap.call_family(leg)``,
which reads only the parent's span. Both run cold (a new, empty call store each run) and
must give the same set of calls. A second table counts the requests ``watch_call`` sends for
a call the sandbox places (default interval 1 s, steps of 2 s).
"""

from __future__ import annotations

import sys

import _common


def main() -> int:
    args = _common.parser(__doc__).parse_args()
    calls, runs = (300, 1) if args.quick else (5000, 5)

    import apifonica_nb as ap

    with _common.sandbox_process(calls, latency=0.02) as sb:
        client = sb.client()
        listed = ap.fetch_history(client=client, cache=False, progress=False)
        legs = listed[
            listed["parent_call_sid"].notna() & (listed["parent_call_sid"] != listed["call_sid"])
        ]
        leg = legs["call_sid"].iloc[0]
        parent = legs["parent_call_sid"].iloc[0]

        def naive() -> set[str]:
            with _common.own_cache_dir():
                df = ap.fetch_history(client=client, progress=False)
            keep = (df["call_sid"] == parent) | (df["parent_call_sid"] == parent)
            return set(df.loc[keep.fillna(False).astype(bool), "call_sid"])

        def ours() -> set[str]:
            with _common.own_cache_dir():
                return set(ap.call_family(leg, client=client)["call_sid"])

        counts = {}
        for name, fn in (("naive", naive), ("ours", ours)):
            sb.reset_request_count()
            fn()
            counts[name] = sb.request_count
        naive_s, expected = _common.median_of(naive, runs)
        ours_s, got = _common.median_of(ours, runs)
        assert got == expected, (got, expected)

        watch_rows = []
        quick_steps = {"step_seconds": 0.5} if args.quick else {}
        for outcome in ("completed", "busy", "failed"):
            sid = sb.place_call(
                to="4930123456", from_="358942417543", outcome=outcome, **quick_steps
            )
            sb.reset_request_count()
            seen = ap.watch_call(
                sid, client=client, interval=0.25 if args.quick else 1.0, progress=False
            )
            path = " > ".join(
                f"{s}{'*' if i else ''}"
                for s, i in zip(seen["status"].astype(str), seen["inferred"], strict=True)
            )
            watch_rows.append([outcome, path, seen.attrs["requests"], sb.request_count])
    rows = [
        [f"{calls:,}", "whole history, filtered", f"{naive_s:.2f}", counts["naive"], runs, "1.0x"],
        [
            f"{calls:,}",
            "call_family(leg)",
            f"{ours_s:.2f}",
            counts["ours"],
            runs,
            _common.ratio(naive_s, ours_s),
        ],
    ]
    _common.print_table(
        f"call_family vs the whole history, 20 ms latency ({_common.machine()})",
        ["calls", "what", "median s", "requests", "runs", "ratio"],
        rows,
    )
    _common.print_table(
        "watch_call on placed calls (* = inferred, not seen)",
        ["outcome", "statuses", "watch GETs", "server requests"],
        watch_rows,
    )
    print(f"family: {len(expected)} calls; ratio (naive / call_family): {naive_s / ours_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
