"""Time every chart builder and weigh its figure, against naive plotly.express baselines.

Usage::

    python benchmarks/bench_charts.py            # 10k and 100k calls
    python benchmarks/bench_charts.py --quick    # 2k calls, a smoke run
    python benchmarks/bench_charts.py --sizes 50000 --runs 5

Frames are the seeded sandbox account (``apifonica_nb.sandbox.data.generate_account``, the
records a client would receive, parsed by ``calls_to_frame``): realistic statuses, channels,
countries, in-progress calls, and the vendor's 2017 example call far before the rest.

For each builder: the median build time over ``--runs`` runs, the time of ``fig.to_json()``
(what a notebook or the report pays to ship the figure) and the JSON size; the time ratio is
baseline (build + to_json) over ours. The baselines are what a notebook would write first,
measured in the same run on the same frame: ``px.timeline`` over every call (one bar and one
hover label per call), ``px.bar`` of raw rows for cost per channel, ``px.histogram`` of raw
values for durations and of raw ``created`` for status counts. Large baselines run once
(they take long and the machine is shared).

Below ``max_calls`` (2,000) the timeline is a per-call gantt carrying SIDs, phases and details,
so there it is larger than the bare ``px.timeline``; above it, it aggregates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apifonica_nb import charts
from apifonica_nb.frame import calls_to_frame
from apifonica_nb.sandbox.generate import generate_account

ANCHOR = int(pd.Timestamp("2026-11-01T12:00:00Z").timestamp())
SEED = 7

Builder = Callable[[pd.DataFrame], go.Figure]

BUILDERS: dict[str, Builder] = {
    "status_timeline": charts.status_timeline,
    "status_counts": charts.status_counts,
    "duration_histogram": charts.duration_histogram,
    "cost_by_channel": charts.cost_by_channel,
    "cost_over_time": charts.cost_over_time,
    "cost_by_destination": charts.cost_by_destination,
}


def _timeline_baseline(df: pd.DataFrame) -> go.Figure:
    rows = df.assign(end=df["ended"].fillna(df["updated"]).fillna(df["created"]))
    return px.timeline(
        rows,
        x_start="created",
        x_end="end",
        y="call_sid",
        color="status",
        hover_data=["from", "to", "duration", "cost_eur"],
    )


def _cost_baseline(df: pd.DataFrame) -> go.Figure:
    return px.bar(df, x="channel", y="cost_eur", color="direction")


def _histogram_baseline(df: pd.DataFrame) -> go.Figure:
    return px.histogram(df, x="talk_seconds", color="status")


def _counts_baseline(df: pd.DataFrame) -> go.Figure:
    return px.histogram(df, x="created", color="status")


BASELINES: dict[str, tuple[str, Builder]] = {
    "status_timeline": ("px.timeline, all calls", _timeline_baseline),
    "status_counts": ("px.histogram(created)", _counts_baseline),
    "duration_histogram": ("px.histogram(raw)", _histogram_baseline),
    "cost_by_channel": ("px.bar, raw rows", _cost_baseline),
}


def sandbox_frame(calls: int) -> pd.DataFrame:
    """Return the seeded sandbox account of ``calls`` calls as the typed DataFrame."""
    account = generate_account(calls=calls, seed=SEED, anchor=ANCHOR)
    records = [account.call_record(row, ANCHOR) for row in range(len(account.call_sids))]
    return calls_to_frame(records)


def measure(build: Builder, df: pd.DataFrame, runs: int) -> tuple[float, float, int]:
    """Return the median build time, the to_json time and the JSON size of one figure."""
    times = []
    fig = go.Figure()
    for _ in range(runs):
        start = time.perf_counter()
        fig = build(df)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    size = len(fig.to_json())
    return statistics.median(times), time.perf_counter() - start, size


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one table per frame size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k calls, a smoke run")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of calls")
    parser.add_argument("--runs", type=int, default=3, help="runs per builder (median)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the px baselines")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2_000] if args.quick else [10_000, 100_000])
    warnings.simplefilter("ignore", FutureWarning)  # plotly.express on pandas 3, not ours

    print(f"os.cpu_count()={os.cpu_count()}  runs={args.runs}  frame: sandbox seed {SEED}")
    for calls in sizes:
        start = time.perf_counter()
        df = sandbox_frame(calls)
        print(f"\n{calls:,} calls (frame built in {time.perf_counter() - start:.1f} s)")
        header = (
            f"{'builder':<20} {'build s':>8} {'to_json s':>9} {'JSON kB':>9}   "
            f"{'baseline':<24} {'build s':>8} {'to_json s':>9} {'JSON kB':>9} "
            f"{'ratio':>7} {'size ×':>7}"
        )
        print(header)
        print("-" * len(header))
        for name, build in BUILDERS.items():
            seconds, to_json, size = measure(build, df, args.runs)
            line = f"{name:<20} {seconds:>8.3f} {to_json:>9.3f} {size / 1000:>9,.0f}"
            if name in BASELINES and not args.no_baseline:
                label, naive = BASELINES[name]
                runs = 1 if calls >= 50_000 else args.runs
                base_seconds, base_json, base_size = measure(naive, df, runs)
                # The ratio compares what a notebook waits for: building plus serialising.
                ratio = (base_seconds + base_json) / (seconds + to_json)
                line += (
                    f"   {label:<24} {base_seconds:>8.3f} {base_json:>9.3f}"
                    f" {base_size / 1000:>9,.0f} {ratio:>7.1f} {base_size / size:>7.1f}"
                )
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
