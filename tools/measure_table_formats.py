"""Measure the three table formats the store could use (docs/store.md shows the results).

Plain hive-partitioned Parquet (pyarrow; atomic renames), Delta Lake (``deltalake``) and Apache
Iceberg (``pyiceberg`` with a SQLite catalog), on the same Arrow table of typed calls: bytes
per call for a large account (1,000,000 calls, one write) and a small one (300 calls of one
month written as 15 history pages of 20, then compacted where the format has it), write time,
loading everything into pandas, a lookup of one SID, and two processes appending at once.

Not shipped and not a benchmark smoke run: it needs ``pip install deltalake pyiceberg[sql-sqlite]``.
Run ``python tools/measure_table_formats.py [--calls 1000000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import _synthetic  # noqa: E402


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def median(fn, runs=3):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def with_month(table: pa.Table) -> pa.Table:
    month = pc.strftime(table.column("created"), format="%Y-%m")
    return table.append_column("month", month)


# -- plain parquet --------------------------------------------------------------------------


def plain_write(root: Path, table: pa.Table, tag: str) -> None:
    table = with_month(table)
    for month in pc.unique(table.column("month")).to_pylist():
        part = table.filter(pc.equal(table.column("month"), month)).drop_columns(["month"])
        folder = root / f"month={month}"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{tag}-{os.getpid()}"
        pq.write_table(part, tmp, compression="zstd")
        os.replace(tmp, folder / f"part-{tag}-{os.getpid()}.parquet")


def plain_compact(root: Path) -> None:
    for folder in root.iterdir():
        files = sorted(folder.glob("*.parquet"))
        merged = pa.concat_tables([pq.read_table(f) for f in files])
        tmp = folder / ".tmp-merged"
        pq.write_table(merged, tmp, compression="zstd")
        os.replace(tmp, folder / "part-merged.parquet")
        for f in files:
            if f.name != "part-merged.parquet":
                f.unlink()


def plain_load(root: Path):
    return ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()


def plain_lookup(root: Path, sid: str):
    return ds.dataset(root, format="parquet", partitioning="hive").to_table(
        filter=pc.field("call_sid") == sid
    )


# -- delta ----------------------------------------------------------------------------------


def delta_write(root: Path, table: pa.Table, tag: str) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(root), with_month(table), mode="append", partition_by=["month"])


def delta_compact(root: Path) -> None:
    from deltalake import DeltaTable

    dt = DeltaTable(str(root))
    dt.optimize.compact()
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    dt.cleanup_metadata()


def delta_load(root: Path):
    from deltalake import DeltaTable

    return DeltaTable(str(root)).to_pyarrow_table().to_pandas()


def delta_lookup(root: Path, sid: str):
    from deltalake import DeltaTable

    return DeltaTable(str(root)).to_pyarrow_dataset().to_table(filter=pc.field("call_sid") == sid)


# -- iceberg --------------------------------------------------------------------------------


def _catalog(root: Path):
    from pyiceberg.catalog.sql import SqlCatalog

    root.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(
        "store", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse"
    )


def _iceberg_table(root: Path, schema: pa.Schema):
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import MonthTransform

    cat = _catalog(root)
    with contextlib.suppress(NamespaceAlreadyExistsError):
        cat.create_namespace("calls")
    try:
        t = cat.create_table("calls.calls", schema=schema)
        with t.update_spec() as spec:
            spec.add_field("created", MonthTransform(), "month")
        return cat.load_table("calls.calls")
    except TableAlreadyExistsError:
        return cat.load_table("calls.calls")
    _ = (PartitionField, PartitionSpec)


def iceberg_write(root: Path, table: pa.Table, tag: str) -> None:
    for attempt in range(50):
        try:
            _iceberg_table(root, table.schema).append(table)
            return
        except Exception as exc:  # CommitFailedException on a concurrent commit
            if "Commit" not in type(exc).__name__ or attempt == 49:
                raise
            time.sleep(0.05)


def iceberg_compact(root: Path) -> None:
    pass  # pyiceberg 0.12 has no compaction of data files; snapshots expire with Java/Spark


def iceberg_load(root: Path):
    return _catalog(root).load_table("calls.calls").scan().to_arrow().to_pandas()


def iceberg_lookup(root: Path, sid: str):
    from pyiceberg.expressions import EqualTo

    return (
        _catalog(root)
        .load_table("calls.calls")
        .scan(row_filter=EqualTo("call_sid", sid))
        .to_arrow()
    )


FORMATS = {
    "parquet+rename": (plain_write, plain_compact, plain_load, plain_lookup),
    "deltalake": (delta_write, delta_compact, delta_load, delta_lookup),
    "pyiceberg+sqlite": (iceberg_write, iceberg_compact, iceberg_load, iceberg_lookup),
}


def _writer(name: str, root: str, path: str, tag: str, q) -> None:
    try:
        table = pq.read_table(path)
        write = FORMATS[name][0]
        for i in range(10):
            write(Path(root), table.slice(i * 20, 20), f"{tag}{i}")
        q.put("ok")
    except Exception as exc:
        q.put(f"{type(exc).__name__}: {exc}"[:200])


def concurrent(name: str, work: Path, table: pa.Table) -> str:
    root = work / f"{name}-conc"
    src = work / "src.parquet"
    pq.write_table(table.slice(0, 400), src)
    FORMATS[name][0](root, table.slice(400, 20), "seed")
    q = mp.get_context("spawn").Queue()
    procs = [
        mp.get_context("spawn").Process(target=_writer, args=(name, str(root), str(src), t, q))
        for t in ("a", "b")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    results = [q.get() for _ in procs]
    rows = len(FORMATS[name][2](root))
    ok = all(r == "ok" for r in results) and rows == 420
    return "both ok, 420 rows" if ok else f"{results} rows={rows}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=1_000_000)
    args = p.parse_args()
    print(f"os.cpu_count() = {os.cpu_count()}, pyarrow {pa.__version__}")
    big = _synthetic.stored_table(args.calls, seed=3)
    small = _synthetic.stored_table(300, seed=4)
    sid = big.column("call_sid")[args.calls // 2].as_py()
    work = Path(tempfile.mkdtemp(prefix="formats-"))
    rows = []
    try:
        for name, (write, compact, load, lookup) in FORMATS.items():
            root = work / name
            t = time.perf_counter()
            write(root, big, "big")
            write_s = time.perf_counter() - t
            big_bytes = size(root)
            load_s = median(partial(load, root))
            assert len(load(root)) == args.calls
            look_s = median(partial(lookup, root, sid), runs=5)
            assert lookup(root, sid).num_rows == 1
            sroot = work / f"{name}-small"
            for i in range(15):
                write(sroot, small.slice(i * 20, 20), f"p{i}")
            raw_small = size(sroot)
            compact(sroot)
            small_bytes = size(sroot)
            conc = concurrent(name, work, big)
            rows.append(
                (
                    name,
                    big_bytes / args.calls,
                    write_s,
                    load_s,
                    look_s * 1000,
                    raw_small / 300,
                    small_bytes / 300,
                    conc,
                )
            )
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = (
        "format",
        "B/call 1M",
        "write 1M s",
        "load 1M s",
        "lookup ms",
        "B/call small",
        "compacted",
        "2 writers",
    )
    print(
        f"{head[0]:<18} {head[1]:>9} {head[2]:>10} {head[3]:>9} {head[4]:>9} {head[5]:>12} "
        f"{head[6]:>9}  {head[7]}"
    )
    for r in rows:
        print(
            f"{r[0]:<18} {r[1]:9.1f} {r[2]:10.2f} {r[3]:9.2f} {r[4]:9.1f} {r[5]:12.0f} "
            f"{r[6]:9.0f}  {r[7]}"
        )


if __name__ == "__main__":
    main()
