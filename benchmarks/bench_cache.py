"""Benchmark the local call store: cold vs warm fetch_calls, and loading many cached calls.

Run ``python benchmarks/bench_cache.py`` (``--quick`` for a short run). The sandbox runs in its
own process with 20 ms latency per request, as a remote API would answer. It prints a table of
median times, request counts and the warm/cold ratio (target: warm >= 50x faster, no request),
then the time to turn 100,000 and 1,000,000 cached calls into a DataFrame (targets 1 s / 6 s),
the first load and the later ones (the store merges its month folders after each write).
Every run uses a temporary cache directory; nothing of the user's is touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import _common
import pandas as pd

import apifonica_nb as ap
import apifonica_nb.cache as cache
from apifonica_nb.connect import DEMO_NOW


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def synthetic(base: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` settled calls: the sandbox's settled calls repeated, each with its own SID."""
    reps = -(-n // len(base))
    frame = pd.concat([base] * reps, ignore_index=True).iloc[:n].copy()
    frame["call_sid"] = pd.array(
        [f"cal{i:08x}-7a1e-4c0d-9b5e-{i * 2654435761 % 16**12:012x}" for i in range(n)],
        dtype="str",
    )
    return frame


def bench_fetch(calls: int, rows: list[tuple[str, ...]]) -> pd.DataFrame:
    with ap.sandbox.running(calls=calls, seed=7, now=DEMO_NOW, latency=0.02, process=True) as sb:
        client = sb.client()
        everything = ap.fetch_history(client=client, progress=False, cache=False)
        base = everything[cache.settled_mask(everything)].reset_index(drop=True)
        sids = base["call_sid"].tolist()
        print(f"sandbox: {calls} calls, {len(sids)} settled, 20 ms latency, own process")

        def run(mode: Any) -> tuple[float, int, pd.DataFrame]:
            sb.reset_request_count()
            seconds, df = timed(
                lambda: ap.fetch_calls(sids, client=client, progress=False, cache=mode)
            )
            return seconds, sb.request_count, df

        plain_s, plain_n, plain = run(False)
        cold = [run(True) for _ in range(1)]
        warm = [run(True) for _ in range(5)]
        pd.testing.assert_frame_equal(warm[-1][2], plain)
        cold_s = statistics.median(r[0] for r in cold)
        warm_s = statistics.median(r[0] for r in warm)
        rows.append(
            (
                f"fetch_calls {len(sids):,} settled, cache=False",
                f"{plain_s:.2f}",
                f"{plain_n}",
                "",
                "",
            )
        )
        rows.append(
            (
                f"fetch_calls {len(sids):,} settled, cold cache",
                f"{cold_s:.2f}",
                f"{cold[0][1]}",
                "1.0x",
                "the baseline",
            )
        )
        rows.append(
            (
                f"fetch_calls {len(sids):,} settled, warm cache",
                f"{warm_s:.3f}",
                f"{max(r[1] for r in warm)}",
                f"{cold_s / warm_s:,.0f}x",
                "faster than cold",
            )
        )
        return base


def bench_load(base: pd.DataFrame, sizes: list[int], rows: list[tuple[str, ...]]) -> None:
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            frame = synthetic(base, n)
            sids = frame["call_sid"].tolist()
            with cache.CallStore(os.path.join(folder, "calls")) as store:
                put_s = timed(partial(store.put_frame, "accbench", frame))[0]
                segment_s = timed(partial(store.update_segments, "accbench"))[0]
                load = partial(store.get_frame, "accbench", sids)
                first_s, df = timed(load)
                pd.testing.assert_frame_equal(df, frame)
                warm = [timed(load)[0] for _ in range(3)]
                every = [timed(partial(store.get_frame, "accbench"))[0] for _ in range(3)]
                size = store.info()["size_bytes"]
            rows.append(
                (
                    f"store {n:,} calls (one write)",
                    f"{put_s:.2f}",
                    "",
                    "",
                    f"{size / 1e6:.0f} MB on disk",
                )
            )
            rows.append(
                ("  then merge its month folders", f"{segment_s:.2f}", "", "", "fetch_* do this")
            )
            rows.append((f"load {n:,} by SID, first", f"{first_s:.3f}", "", "", ""))
            rows.append(
                (f"load {n:,} by SID", f"{statistics.median(warm):.3f}", "", "", "median of 3")
            )
            rows.append(
                (
                    f"load {n:,} whole account",
                    f"{statistics.median(every):.3f}",
                    "",
                    "",
                    "median of 3",
                )
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 calls and a 20k load only")
    args = parser.parse_args(argv)
    calls, sizes = (500, [20_000]) if args.quick else (10_000, [100_000, 1_000_000])
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        os.environ[cache.CACHE_DIR_ENV] = folder
        base = bench_fetch(calls, rows)
    bench_load(base, sizes, rows)
    print(_common.machine())
    _common.print_table(
        "the local call store (ratio: warm to cold, same run)",
        ("what", "seconds", "requests", "ratio", "note"),
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
