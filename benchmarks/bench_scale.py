"""Benchmark every chart and summary number on a 10,000,000-call store: DuckDB vs pandas.

Usage::

    python benchmarks/bench_scale.py                      # 10,000,000 calls in /work/bench10m
    python benchmarks/bench_scale.py --calls 1000000 --store-dir /tmp/bench1m
    python benchmarks/bench_scale.py --only concurrency   # the builders whose name has it
    python benchmarks/bench_scale.py --quick              # 5,000 calls in a temp dir, seconds

The store: ``--calls`` synthetic settled calls, 100,000 a day as the issue's contact centre
places them, written into the real store layout through ``CallStore.put_table`` (one file a
month) under ``--store-dir``, used as ``APIFONICA_NB_CACHE_DIR``. They come from the sandbox's
generator without HTTP (``benchmarks/_synthetic.py``: one account of 300,000 calls generated
once, repeated in Arrow with fresh SIDs, window after window back in time). A folder already
holding exactly ``--calls`` calls (a DuckDB count over the files' footers) is reused, so only
the first run pays the generation; its time is reported, not counted.

Each builder (the eight charts, the five summary numbers, and a floor under them all: counting
the calls, ``scan().aggregate("count(*)")`` against ``len(df)``) is measured in fresh subprocesses,
one per builder, path and run, so each child's peak RSS (its ``VmHWM``) is its own:

- *duckdb*: ``builder(ap.cache.scan())``, the aggregation pushed into DuckDB;
- *pandas*: the whole account loaded as the fetch verbs load it
  (``CallStore().get_frame(account)``), then ``builder(df)``; load and builder timed apart.

The children's baseline RSS (after the imports and a warm-up of the builder on 200 calls, which
pays plotly's one-off costs before the clock starts) is shown too. A builder that does not
take a lazy frame yet is reported as "not lazy yet" instead of stopping the run. Targets (the
issue): each builder through DuckDB in <= 3 s with a peak RSS <= 1.5 GB (1,536 MB). Medians of
``--runs`` (1 by default at 1,000,000 calls and more, 3 below).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common
import _synthetic

TIME_TARGET_S = 3.0
RSS_TARGET_MB = 1536.0
DEFAULT_STORE = Path("/work/bench10m")
CHILD_TIMEOUT_S = 1800


def _builders() -> dict[str, Callable[[Any], object]]:
    """Every builder the report draws on, by name (imported in the child only)."""
    import apifonica_nb as ap
    from apifonica_nb import summary

    charts = ap.charts
    return {
        "charts.status_counts": charts.status_counts,
        "charts.duration_histogram": charts.duration_histogram,
        "charts.cost_by_channel": charts.cost_by_channel,
        "charts.cost_by_destination": charts.cost_by_destination,
        "charts.cost_over_time": charts.cost_over_time,
        "charts.status_timeline": charts.status_timeline,
        "charts.concurrency": charts.concurrency,
        "charts.cost_anomalies": charts.cost_anomalies,
        "summary.totals": summary.totals,
        "summary.by_column(status)": lambda f: summary.by_column(f, "status"),
        "summary.kpis(by=channel)": lambda f: summary.kpis(f, by="channel"),
        "summary.concurrency": summary.concurrency,
        "summary.cost_anomalies": summary.cost_anomalies,
        "(floor) count(*)": _count,
    }


def _count(frame: Any) -> int:
    """The floor under every builder: count the calls (DuckDB reads the relation once)."""
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return len(frame)
    return int(frame.aggregate("count(*)").fetchall()[0][0])


NAMES = [
    "charts.status_counts",
    "charts.duration_histogram",
    "charts.cost_by_channel",
    "charts.cost_by_destination",
    "charts.cost_over_time",
    "charts.status_timeline",
    "charts.concurrency",
    "charts.cost_anomalies",
    "summary.totals",
    "summary.by_column(status)",
    "summary.kpis(by=channel)",
    "summary.concurrency",
    "summary.cost_anomalies",
    "(floor) count(*)",
]


# -- the child: one builder on one path ------------------------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries the parent's RSS at the fork
    into it across ``exec``, so every child would report at least the parent's size; the
    high-water mark of the child's own memory map (``VmHWM``) starts at the ``exec``."""
    return _status_mb("VmHWM")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _warm_up(builder: Callable[[Any], object]) -> None:
    """Pay the one-off costs (plotly's lazy imports, the first figure) before the clock: a
    notebook has paid them by its second chart. 200 generated calls, as pandas."""
    import apifonica_nb as ap
    from apifonica_nb.sandbox.generate import generate_account

    account = generate_account(calls=200, seed=1, anchor=_synthetic.ANCHOR)
    builder(ap.calls_to_frame([json.loads(j) for j in account.call_json if j]))


def _whole_store_frame() -> Any:
    """Every stored call as the fetch verbs load an account's (one account per load)."""
    import pandas as pd

    from apifonica_nb.cache import CallStore

    with CallStore() as store:
        frames = [store.get_frame(account) for account in store.accounts()]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def fingerprint(result: object) -> list[list[object]]:
    """What a builder answered, in a few numbers to compare across paths: per figure trace
    or frame column, its length and (numbers) its sum. Order and labels' types are left out:
    a lazy path may give datetimes as text, or another row order."""
    import dataclasses

    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    def part(key: str, values: object) -> list[object]:
        try:
            array = np.asarray(values)
        except Exception:
            return [key, None, None]
        if array.dtype.kind in "biuf" and array.size:
            return [key, int(array.size), float(np.nansum(array.astype("float64")))]
        return [key, int(array.size), None]

    parts: list[list[object]] = []
    if isinstance(result, (int, float)):
        parts.append(["value", 1, float(result)])
    elif isinstance(result, go.Figure):
        for i, trace in enumerate(result.data):
            for key in ("x", "y", "z", "values", "labels"):
                values = getattr(trace, key, None)
                if values is not None:
                    parts.append(part(f"trace {i} {key}", values))
    elif isinstance(result, pd.DataFrame):
        parts.append(["rows", len(result), None])
        for column in result.columns:
            values = result[column]
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
                values
            )
            parts.append(
                part(str(column), values.astype("float64").to_numpy() if numeric else values)
            )
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        for key, value in dataclasses.asdict(result).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parts.append([key, 1, float(value)])
    return parts


def same(a: list[list[object]] | None, b: list[list[object]] | None) -> str:
    """Whether two fingerprints agree (sums to 1e-6 relative)."""
    if a is None or b is None:
        return "n/a"
    if len(a) != len(b):
        return "no"
    for (ka, na, sa), (kb, nb, sb) in zip(a, b, strict=True):
        if ka != kb or na != nb:
            return "no"
        if isinstance(sa, float) and isinstance(sb, float):
            if not math.isclose(sa, sb, rel_tol=1e-6, abs_tol=1e-9):
                return "no"
        elif (sa is None) != (sb is None):
            return "no"
    return "yes"


def _reset_peak() -> None:
    """Start the high-water mark again from the current RSS (Linux's ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _error(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}"


def child(path: str, names: list[str]) -> list[dict[str, Any]]:
    """Run the builders ``names`` in turn on the ``duckdb`` or ``pandas`` path.

    One name: the process is fresh, its peak RSS is the builder's. Several (``--shared``):
    the pandas path loads once, and the high-water mark is reset before each builder.
    """
    import apifonica_nb as ap

    builders = _builders()
    for name in names:
        _warm_up(builders[name])
    baseline = _rss_mb()
    frame: Any = None
    load: dict[str, Any] = {}
    if path == "pandas":
        _reset_peak()
        started = time.perf_counter()
        try:
            frame = _whole_store_frame()
            load = {"rows": len(frame), "load_s": time.perf_counter() - started}
        except Exception as exc:
            load = {"error": _error(exc)}
        load["load_peak_mb"] = _peak_mb()
    results = []
    for name in names:
        out: dict[str, Any] = {"name": name, "baseline_mb": baseline, **load}
        if "error" in out:
            results.append(out)
            continue
        _reset_peak()
        started = time.perf_counter()
        try:
            result = builders[name](ap.cache.scan() if path == "duckdb" else frame)
        except Exception as exc:  # reported in the table, the run goes on
            out["error"] = _error(exc)
        else:
            out["fingerprint"] = fingerprint(result)
        took = time.perf_counter() - started
        if path == "duckdb":
            out["seconds"], out["peak_mb"] = took, _peak_mb()
        else:  # the pandas path is the load and then the builder
            out["builder_s"], out["seconds"] = took, out["load_s"] + took
            out["peak_mb"] = max(out["load_peak_mb"], _peak_mb())
        results.append(out)
    return results


# -- the parent: subprocesses, medians, the table --------------------------------------------


def run_child(path: str, names: list[str], cache_dir: Path) -> list[dict[str, Any]]:
    """Measure ``names`` on ``path`` in a fresh interpreter pointed at the store."""
    env = dict(os.environ, APIFONICA_NB_CACHE_DIR=str(cache_dir))
    failed = {"error": ""}
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", path, *names],
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        failed["error"] = f"timed out after {CHILD_TIMEOUT_S} s"
    else:
        lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
        if done.returncode == 0 and lines:
            results: list[dict[str, Any]] = json.loads(lines[-1])
            return results
        why = f"killed by signal {-done.returncode}" if done.returncode < 0 else "crashed"
        tail = done.stderr.strip().splitlines()[-1:] or [""]
        failed["error"] = f"{why} ({tail[0][:120]})"
    return [{"name": name, **failed} for name in names]


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each measured number over runs (the first error is the answer)."""
    for result in results:
        if "error" in result:
            return result
    keys = {k for r in results for k, v in r.items() if isinstance(v, (int, float))}
    medians: dict[str, Any] = {k: statistics.median(r[k] for r in results if k in r) for k in keys}
    medians["fingerprint"] = results[-1].get("fingerprint")
    return medians


def measure(
    names: list[str], paths: list[str], cache_dir: Path, runs: int, *, shared: set[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Name -> path -> medians of ``runs`` children: one per builder, or, for the paths in
    ``shared``, one for every builder."""
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in names}
    for path in paths:
        groups = [names] if path in shared else [[name] for name in names]
        for group in groups:
            per_run = [run_child(path, group, cache_dir) for _ in range(runs)]
            for i, name in enumerate(group):
                results[name][path] = _median([run[i] for run in per_run])
                progress = json.dumps(results[name][path])
                print(f"  {path} {name}: {progress}", file=sys.stderr, flush=True)
    return results


def _lazy_verdict(error: str) -> str:
    kind = error.split(":", 1)[0]
    if kind in {"TypeError", "AttributeError", "NotImplementedError", "KeyError"}:
        return "not lazy yet"
    return "error"


def _verdict(duck: dict[str, Any], seconds: float | None, peak_mb: float | None) -> str:
    """Whether the DuckDB path met the targets (or why it was not measured)."""
    if not duck:
        return "not run"
    if seconds is None or peak_mb is None:
        return _lazy_verdict(str(duck.get("error", "")))
    missed = [
        what
        for what, ok in (("time", seconds <= TIME_TARGET_S), ("memory", peak_mb <= RSS_TARGET_MB))
        if not ok
    ]
    return f"not met ({', '.join(missed)})" if missed else "met"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table_rows(results: dict[str, dict[str, dict[str, Any]]]) -> tuple[list[list[str]], list[str]]:
    """The main table's rows and the footnotes (errors in full)."""
    rows, notes = [], []
    for name, by_path in results.items():
        duck, pand = by_path.get("duckdb", {}), by_path.get("pandas", {})
        d_err, p_err = duck.get("error"), pand.get("error")
        d_s = None if d_err else duck.get("seconds")
        d_mb = None if d_err else duck.get("peak_mb")
        p_s = None if p_err else pand.get("seconds")
        p_mb = None if p_err else pand.get("peak_mb")
        if d_err:
            notes.append(f"{name} (duckdb): {d_err}")
        if p_err:
            notes.append(f"{name} (pandas): {p_err}")
        met = _verdict(duck, d_s, d_mb)
        rows.append(
            [
                name,
                _fmt(d_s) if duck and not d_err else met,
                _fmt(d_mb, 0),
                _fmt(p_s) if not p_err else ("failed" if pand else "not run"),
                _fmt(pand.get("load_s")) if not p_err else "n/a",
                _fmt(pand.get("builder_s")) if not p_err else "n/a",
                _fmt(p_mb, 0),
                _common.ratio(p_s, d_s) if p_s is not None and d_s is not None else "n/a",
                f"{p_mb / d_mb:.1f}x" if p_mb is not None and d_mb is not None else "n/a",
                same(duck.get("fingerprint"), pand.get("fingerprint")),
                met,
            ]
        )
    return rows, notes


def baselines(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The children's median RSS right after importing the package, per path."""
    parts = []
    for path in ("duckdb", "pandas"):
        values = [
            r[path]["baseline_mb"] for r in results.values() if "baseline_mb" in r.get(path, {})
        ]
        if values:
            parts.append(f"{path} {statistics.median(values):.0f} MB")
    return "children's baseline RSS after imports (median): " + (", ".join(parts) or "n/a")


def _made(made: dict[str, object]) -> str:
    """How the store was made, for the line above the table (not counted in any time)."""
    took = (
        f"generated in {made['wall_s']} s wall, {made['cpu_s']} s CPU"
        f" (load average {made.get('load_average', '?')})"
        if "wall_s" in made
        else "generated earlier"
    )
    return f"{'reused, ' if made.get('reused') else ''}{took}; not counted"


def machine() -> str:
    """The shared machine line, with the engines' versions."""
    import duckdb
    import narwhals
    import pyarrow

    return (
        f"{_common.machine()}, pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}, "
        f"narwhals {narwhals.__version__}"
    )


def main() -> None:
    p = _common.parser(__doc__)
    p.add_argument("--calls", type=int, default=10_000_000, help="calls in the store")
    p.add_argument("--store-dir", type=Path, default=DEFAULT_STORE, help="APIFONICA_NB_CACHE_DIR")
    p.add_argument("--only", action="append", default=[], help="builders whose name has this")
    p.add_argument("--runs", type=int, default=None, help="children per builder and path")
    p.add_argument(
        "--paths", default="duckdb,pandas", help="which paths to measure (duckdb,pandas)"
    )
    p.add_argument(
        "--shared",
        choices=["none", "pandas", "all"],
        default=None,
        help="paths measured by one process for every builder (pandas then loads once);"
        " default: pandas from 5,000,000 calls (a 10M load takes a minute), all with --quick",
    )
    p.add_argument("--child", nargs="+", metavar="PATH BUILDER", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1:])))
        return
    temp = None
    if args.quick:
        temp = tempfile.TemporaryDirectory(prefix="apifonica-bench-scale-")
        args.calls, args.store_dir = 5_000, Path(temp.name)
        args.runs, args.shared = args.runs or 1, args.shared or "all"
    runs = args.runs or (1 if args.calls >= 1_000_000 else 3)
    names = [n for n in NAMES if not args.only or any(o in n for o in args.only)]
    paths = [x.strip() for x in args.paths.split(",") if x.strip()]
    print(machine())
    try:
        store = _synthetic.ensure_store(args.store_dir, args.calls)
        made = _made(store.made)
        print(
            f"store {store.root}: {store.calls:,} calls,"
            f" {store.size_bytes / store.calls:.0f} B/call on disk,"
            f" {store.files} data files; {made}"
        )
        mode = args.shared or ("pandas" if args.calls >= 5_000_000 else "none")
        if mode == "pandas" and "pandas" not in paths:
            mode = "none"
        shared = {"none": set(), "pandas": {"pandas"}, "all": {"duckdb", "pandas"}}[mode]
        results = measure(names, paths, args.store_dir, runs, shared=shared)
        each = {
            "none": "a fresh process per builder and path",
            "pandas": "a fresh process per builder for DuckDB; one for pandas, which loads once"
            " (its peak RSS reset before each builder, shown as the larger of the load's and"
            " the builder's)",
            "all": "one process per path (pandas loads once; peak RSS reset before each builder)",
        }[mode]
        rows, notes = table_rows(results)
        _common.print_table(
            f"Every builder on {store.calls:,} stored calls: DuckDB (builder(ap.cache.scan()))"
            f" vs pandas (load the account, then builder(df)); medians of {runs} run(s),"
            f" {each}",
            [
                "builder",
                "duckdb s",
                "duckdb peak MB",
                "pandas s",
                "load s",
                "builder s",
                "pandas peak MB",
                "time ratio",
                "memory ratio",
                "same",
                f"target <= {TIME_TARGET_S:.0f} s, <= {RSS_TARGET_MB:,.0f} MB",
            ],
            rows,
        )
        print(baselines(results))
        for note in notes:
            print(f"  {note}")
    finally:
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    main()
