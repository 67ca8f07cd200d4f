"""The store as a Parquet dataset: migration of the previous version, writers at once, merges."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import apifonica_nb as ap
from apifonica_nb.cache import (
    LEGACY_FILE_NAME,
    REPLACES_KEY,
    CallStore,
    cache_path,
    frame_to_file_table,
    legacy_schema_sql,
    settled_mask,
)
from apifonica_nb.errors import CacheError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def records(sandbox: Any) -> list[dict[str, Any]]:
    """The shared sandbox's settled calls, as the API lists them (newest first)."""
    everything = list(sandbox.client().iter_calls())
    keep = settled_mask(ap.calls_to_frame(everything))
    return [r for r, k in zip(everything, keep, strict=True) if k]


def write_old_store(path: Path, account: str, records: list[dict[str, Any]]) -> None:
    """A calls.sqlite3 as the previous version wrote it: its schema, typed rows, one listing."""
    table = frame_to_file_table(
        ap.calls_to_frame(records), extras=None, tie_ranks=None, stored_at_us=1_700_000_000_000_000
    )
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) or pa.types.is_boolean(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    names = table.schema.names
    rows = [
        (account, *(row[n] for n in names[:-1]), 1, 1, row["stored_at"])
        for row in table.to_pylist()
    ]
    conn = sqlite3.connect(path)
    for statement in legacy_schema_sql():
        conn.execute(statement)
    marks = ",".join("?" * (len(names) + 3))
    cols = ", ".join(f'"{c}"' for c in names[:-1])
    conn.executemany(
        f"INSERT INTO calls (account, {cols}, version, first_version, stored_at) VALUES ({marks})",
        rows,
    )
    conn.execute("INSERT INTO syncs VALUES (?, '{}', 0, 99, 50, 1)", (account,))
    conn.commit()
    conn.close()


def test_the_previous_versions_store_is_migrated_with_one_message(
    sandbox: Any, records: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    old = cache_path().with_name(LEGACY_FILE_NAME)
    old.parent.mkdir(parents=True, exist_ok=True)
    write_old_store(old, sandbox.account_sid, records[:150])
    with caplog.at_level(logging.WARNING, logger="apifonica_nb"):
        client = sandbox.client()
        before = sandbox.request_count
        sids = [r["call_sid"] for r in records[:150]]
        df = ap.fetch_calls(sids, client=client, progress=False)
        assert sandbox.request_count == before  # every call came from the migrated store
        ap.fetch_calls(sids, client=client, progress=False)
    migrated = [r for r in caplog.records if "previous version" in r.getMessage()]
    assert len(migrated) == 1 and "Moved 150 cached calls" in migrated[0].getMessage()
    assert not old.exists()
    pd.testing.assert_frame_equal(
        df, ap.fetch_calls(sids, client=client, progress=False, cache=False)
    )
    with CallStore() as store:
        assert store.syncs(sandbox.account_sid) == [
            {"filters": "{}", "range_start": 0, "range_end": 99, "watermark": 50, "completed_at": 1}
        ]


def test_an_old_store_of_an_unknown_version_is_an_error_not_a_crash(tmp_path: Path) -> None:
    old = tmp_path / LEGACY_FILE_NAME
    write_old_store(old, "acc1", [])
    with sqlite3.connect(old) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    with pytest.raises(CacheError, match="unknown version") as err:
        CallStore(tmp_path / "calls")
    assert str(old) in str(err.value) and "delete" in str(err.value)


def test_a_changed_call_replaces_its_stored_version_in_the_files(
    records: list[dict[str, Any]],
) -> None:
    with CallStore() as store:
        store.put_records("acc1", records[:30])
        files = set(store.path.rglob("part-*.parquet"))
        store.put_records("acc1", records[:30])  # unchanged: nothing written
        assert set(store.path.rglob("part-*.parquet")) == files
        changed = dict(records[4], tag="rebilled")
        store.put_records("acc1", [changed])
        got = store.get_frame("acc1", [r["call_sid"] for r in records[:30]])
    expected = ap.calls_to_frame([*records[:4], changed, *records[5:30]])
    pd.testing.assert_frame_equal(got, expected)
    files = list(cache_path().rglob("*.parquet"))
    everything = pa.concat_tables([pq.read_table(f) for f in files])
    assert everything.num_rows == 30  # the old version is gone from the files too
    assert pc.sum(pc.equal(everything.column("tag"), "rebilled")).as_py() == 1


def test_a_rewrite_left_beside_the_file_it_replaces_is_read_once(
    records: list[dict[str, Any]],
) -> None:
    """A changed call's file replaces its old file whole and names it in its footer: with the
    old file still there (a crash between the write and the removal), scan() and the store
    both read one row per call, the new version."""
    with CallStore() as store:
        store.put_records("acc1", records[:30])
        sid = records[4]["call_sid"]
        (old,) = [
            f
            for f in store.path.rglob("part-*.parquet")
            if sid in pq.read_table(f, columns=["call_sid"]).column(0).to_pylist()
        ]
        kept = old.read_bytes()
        changed = [dict(records[4], tag="rebilled"), records[40]]  # one changed, one new
        store.put_records("acc1", changed)
        files = list(store.path.rglob("part-*.parquet"))
        named = [pq.read_metadata(f).metadata.get(REPLACES_KEY.encode()) for f in files]
        assert old.name.encode() in named  # the replacement names the file it replaces
        old.write_bytes(kept)  # as if the process died before removing it
        with_both = store.get_frame("acc1")
    rel = ap.cache.scan("acc1")
    assert rel.aggregate("count(*)").fetchall() == [(31,)]
    assert rel.filter("tag = 'rebilled'").aggregate("count(*)").fetchall() == [(1,)]
    assert len(with_both) == 31
    assert with_both.loc[with_both["call_sid"] == sid, "tag"].tolist() == ["rebilled"]


def test_many_small_writes_are_merged_into_few_files(records: list[dict[str, Any]]) -> None:
    with CallStore() as store:
        for lo in range(0, 200, 10):
            store.put_records("acc1", records[lo : lo + 10])
        store.update_segments("acc1")  # what the fetch verbs do when they finish
        folders = {f.parent for f in store.path.rglob("part-*.parquet")}
        assert len(list(store.path.rglob("part-*.parquet"))) == len(folders)
        assert store.count("acc1") == 200
        whole = store.get_frame("acc1")
    assert whole["created"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(
        whole.sort_values("call_sid").reset_index(drop=True),
        ap.calls_to_frame(records[:200]).sort_values("call_sid").reset_index(drop=True),
    )


WRITER = """
import json, sys
from apifonica_nb.cache import CallStore
records = json.load(open(sys.argv[1]))
with CallStore() as store:
    for lo in range(0, len(records), 5):
        store.put_records("acc1", records[lo : lo + 5])
print("done")
"""


def test_two_processes_writing_at_once_both_succeed(
    records: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Overlapping batches from two real processes: both finish, each call is one row."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = []
    for name, part in (("a", records[:120]), ("b", records[60:200])):
        src = tmp_path / f"{name}.json"
        src.write_text(json.dumps(part))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(src)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        # Everything in the message: a process killed by a signal (-9: the OOM killer on a
        # shared machine) prints nothing, which must not read as "no error captured".
        assert proc.returncode == 0 and out.strip() == "done", (proc.returncode, out, err)
    files = sorted(cache_path().rglob("*.parquet"))
    sids = pa.concat_tables([pq.read_table(f, columns=["call_sid"]) for f in files]).column(0)
    layout = [
        (str(f.relative_to(cache_path())), pq.ParquetFile(f).metadata.num_rows) for f in files
    ]
    assert len(sids) == 200 == len(pc.unique(sids)), layout
    with CallStore() as store:
        pd.testing.assert_frame_equal(
            store.get_frame("acc1", [r["call_sid"] for r in records[:200]]),
            ap.calls_to_frame(records[:200]),
        )


def test_a_folder_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "calls"
    root.mkdir()
    with sqlite3.connect(root / "_store.sqlite3") as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
    conn.close()
    with pytest.raises(CacheError, match="not this store's manifest") as err:
        CallStore(root)
    assert str(root) in str(err.value)
