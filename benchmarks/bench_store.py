"""Benchmark the call store (Parquet dataset) against the previous version's SQLite store.

Run ``python benchmarks/bench_store.py`` (``--quick`` for a smoke run, ``--ten-million`` to also
generate the 10,000,000-call store). Both stores get the same synthetic settled calls, made by
the sandbox's generator without HTTP (``benchmarks/_synthetic.py``), in the same run:

- bytes per call on disk: a large account (``--calls``, 1,000,000) written in one go, and a
  small one (300 calls of one month) written as a history writes it, 15 pages of 20, then
  tidied as the fetch verbs do when they finish (targets: <= 100 and <= 150 B/call);
- loading every call of the large account into a pandas frame, a fresh store each time
  (target <= 1 s; its CPU seconds too, as the machine may be shared), and looking up one SID
  in it (target <= 50 ms); medians of ``--runs``;
- one GROUP BY (status, channel: count, cost) over every call of the Parquet store in DuckDB,
  through the previous ``scan()`` (a ``row_number()`` window keeping one row per call) and
  through ``ap.cache.scan()`` (which skips files a rewrite replaced), at 1M and, with
  ``--ten-million``, at 10M calls.

``--ten-million`` writes 10,000,000 calls in chunks of 500,000 into a store and reports the
generation time and the size (the charts and the summary on it are the scale benchmark's).
Every store lives in a temporary folder; nothing of the user's is touched.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _synthetic
import pyarrow as pa

from apifonica_nb.cache import CallStore, frame_from_table
from apifonica_nb.cache._layout import file_to_segment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sqlite_store import CallStore as SqliteStore

ACCOUNT = "accbench"


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def med(fn: Callable[[], Any], runs: int) -> float:
    return med_cpu(fn, runs)[0]


def med_cpu(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` (CPU: this process's, every thread)."""
    wall, cpu = [], []
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return statistics.median(wall), statistics.median(cpu)


GROUP_BY = "SELECT status, channel, count(*) AS calls, sum(cost_eur) AS cost FROM rel GROUP BY ALL"


def scan_group_by(root: Path, runs: int) -> tuple[float, float, int]:
    """For the store in ``root/calls``: median seconds of one GROUP BY over every call,
    through the previous scan()
    (a row_number() window keeping one row per call) and through ``ap.cache.scan()``."""
    import duckdb

    import apifonica_nb as ap

    before = os.environ.get(ap.cache.CACHE_DIR_ENV)
    os.environ[ap.cache.CACHE_DIR_ENV] = str(root)
    try:
        rel = ap.cache.scan()
        calls = sum(row[2] for row in rel.query("rel", GROUP_BY).fetchall())
        this = med(lambda: rel.query("rel", GROUP_BY).fetchall(), runs)
    finally:
        if before is None:
            os.environ.pop(ap.cache.CACHE_DIR_ENV)
        else:
            os.environ[ap.cache.CACHE_DIR_ENV] = before
    glob = str(root / "calls" / "account=*" / "month=*" / "part-*.parquet")
    con = duckdb.connect()
    previous = con.sql(
        f"SELECT *, price AS cost_eur FROM read_parquet('{glob}', hive_partitioning = true, "
        "hive_types_autocast = false) QUALIFY row_number() OVER "
        "(PARTITION BY account, call_sid ORDER BY stored_at DESC) = 1"
    )
    old = med(lambda: previous.query("rel", GROUP_BY).fetchall(), runs)
    return old, this, calls


def frame_of(table: pa.Table) -> Any:
    return frame_from_table(file_to_segment(table))


def bench_large(
    table: pa.Table, runs: int, work: Path, scans: list[tuple[float, float, int]]
) -> list[tuple[object, ...]]:
    n = table.num_rows
    sid = table.column("call_sid")[n // 2].as_py()
    frame = frame_of(table)
    rows = []
    results: dict[str, tuple[float, float, float, float]] = {}
    cpu: dict[str, float] = {}
    for name in ("sqlite (previous)", "parquet (this)"):
        root = work / name.split()[0]
        started = time.perf_counter()
        if name.startswith("sqlite"):
            opener: Callable[[], Any] = lambda r=root: SqliteStore(r / "calls.sqlite3")  # noqa: E731
            with opener() as store:
                store.put_frame(ACCOUNT, frame)
                store.update_segments(ACCOUNT)
        else:
            opener = lambda r=root: CallStore(r / "calls")  # noqa: E731
            with opener() as store:
                store.put_table(ACCOUNT, table)
        write_s = time.perf_counter() - started

        def load(opener: Callable[[], Any] = opener) -> None:
            with opener() as store:
                assert len(store.get_frame(ACCOUNT)) == n

        def lookup(opener: Callable[[], Any] = opener) -> None:
            with opener() as store:
                assert store.get_table(ACCOUNT, [sid]).num_rows == 1

        load()  # the SQLite store builds its columnar segments on a first load
        (load_s, load_cpu), lookup_s = med_cpu(load, runs), med(lookup, max(runs, 9))
        results[name] = (size(root) / n, write_s, load_s, lookup_s)
        cpu[name] = load_cpu
        if name.startswith("parquet"):
            scans.append(scan_group_by(root, runs))
        shutil.rmtree(root)
    old, new = results["sqlite (previous)"], results["parquet (this)"]
    for name, (per_call, write_s, load_s, lookup_s) in results.items():
        rows.append(
            (
                name,
                f"{n:,}",
                f"{per_call:.0f}",
                f"{write_s:.2f}",
                f"{load_s:.2f}",
                f"{cpu[name]:.2f}",
                f"{lookup_s * 1000:.1f}",
                "1.0x" if name.startswith("sqlite") else "",
            )
        )
    rows.append(
        (
            "ratio previous/this",
            "",
            f"{old[0] / new[0]:.1f}x",
            f"{old[1] / new[1]:.1f}x",
            f"{old[2] / new[2]:.1f}x",
            f"{cpu['sqlite (previous)'] / cpu['parquet (this)']:.1f}x",
            f"{old[3] / new[3]:.1f}x",
            _common.ratio(old[2], new[2]),
        )
    )
    return rows


def bench_small(work: Path) -> list[tuple[object, ...]]:
    table = _synthetic.stored_table(300, seed=4)
    frame = frame_of(table)
    rows = []
    for name in ("sqlite (previous)", "parquet (this)"):
        root = work / f"small-{name.split()[0]}"
        store: Any = (
            SqliteStore(root / "calls.sqlite3")
            if name.startswith("sqlite")
            else CallStore(root / "calls")
        )
        with store:
            for lo in range(0, len(frame), 20):  # as a history stores its pages
                store.put_frame(ACCOUNT, frame.iloc[lo : lo + 20].reset_index(drop=True))
            store.update_segments(ACCOUNT)
            assert store.count(ACCOUNT) == len(frame)
        rows.append((name, f"{len(frame)}", f"{size(root) / len(frame):.0f}"))
        shutil.rmtree(root)
    return rows


def ten_million(work: Path, total: int) -> list[tuple[object, ...]]:
    root = work / "ten-million" / "calls"
    started = time.perf_counter()
    with CallStore(root) as store:
        for chunk in _synthetic.chunks(total, chunk=min(500_000, total)):
            store.put_table(ACCOUNT, chunk)
        store.update_segments(ACCOUNT)
        calls = store.count(ACCOUNT)
    seconds = time.perf_counter() - started
    files = len(list(root.rglob("part-*.parquet")))
    return [(f"{calls:,}", f"{seconds:.0f}", f"{size(root) / calls:.0f}", f"{files}", str(root))]


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--calls", type=int, default=1_000_000, help="calls of the large account")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ten-million", action="store_true", help="also generate a 10M-call store")
    p.add_argument("--keep", action="store_true", help="keep the 10M store (prints its path)")
    args = p.parse_args()
    if args.quick:
        args.calls, args.runs = 20_000, 1
    print(_common.machine())
    work = Path(tempfile.mkdtemp(prefix="apifonica-bench-store-"))
    try:
        scans: list[tuple[float, float, int]] = []
        started = time.perf_counter()
        table = _synthetic.stored_table(args.calls)
        print(
            f"generated {table.num_rows:,} settled calls in {time.perf_counter() - started:.1f} s"
        )
        _common.print_table(
            f"Large account ({args.calls:,} calls): previous SQLite store vs Parquet dataset",
            ["store", "calls", "B/call", "write s", "load s", "load CPU s", "lookup ms", "ratio"],
            bench_large(table, args.runs, work, scans),
        )
        del table
        _common.print_table(
            "Small account (300 calls of a month, stored as 15 history pages of 20)",
            ["store", "calls", "B/call"],
            bench_small(work),
        )
        if args.ten_million:
            _common.print_table(
                "Synthetic 10M-call store (the sandbox's generator, chunks of 500,000, no HTTP)",
                ["calls", "generation s", "B/call", "files", "path"],
                ten_million(work, 10_000_000),
            )
            scans.append(scan_group_by(work / "ten-million", args.runs))
        _common.print_table(
            "One GROUP BY over every stored call (DuckDB): the previous scan()'s row_number() "
            "dedupe vs scan() skipping the files a rewrite replaced",
            ["calls", "previous s", "this s", "ratio"],
            [(f"{c:,}", f"{o:.2f}", f"{t:.2f}", _common.ratio(o, t)) for o, t, c in scans],
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
