"""The local call store: request counts prove what is served from it; frames stay identical."""

from __future__ import annotations

import _thread
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import apifonica_nb as ap
import apifonica_nb.cache
import apifonica_nb.cache._store
from apifonica_nb.cache import CallStore, cache_path, combine_frames, settled_mask
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import CacheError, FetchFailuresWarning
from apifonica_nb.frame import deduplicate

cache = apifonica_nb.cache
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def everything(sandbox: Any) -> pd.DataFrame:
    """Every call of the shared sandbox, typed, fetched without the cache."""
    return ap.calls_to_frame(list(sandbox.client().iter_calls()))


@pytest.fixture(scope="module")
def settled(everything: pd.DataFrame) -> list[str]:
    return everything["call_sid"][settled_mask(everything)].tolist()


@pytest.fixture(scope="module")
def unsettled(everything: pd.DataFrame) -> list[str]:
    return everything["call_sid"][~settled_mask(everything)].tolist()


@pytest.fixture(params=["by key", "by segments"])
def load_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with SIDs looked up by key (small batches) and through the columnar
    segments (what batches of more than a few thousand calls use)."""
    if request.param == "by segments":
        monkeypatch.setattr(apifonica_nb.cache._store, "_DIRECT_LOOKUP", 0)
    return str(request.param)


def requests_made(sandbox: Any, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, int]:
    before = sandbox.request_count
    result = fn(*args, **kwargs)
    return result, sandbox.request_count - before


def test_the_sandbox_has_both_kinds_of_calls(settled: list[str], unsettled: list[str]) -> None:
    assert len(settled) > 200 and 3 <= len(unsettled) < 40


def test_a_warm_rerun_of_settled_calls_makes_no_request(
    client: ap.Client, sandbox: Any, settled: list[str], load_path: str
) -> None:
    sids = settled[:120]
    cold, n_cold = requests_made(sandbox, ap.fetch_calls, sids, client=client, progress=False)
    assert n_cold == len(sids)
    assert cold.attrs["cache"] == {"hits": 0, "misses": 120, "path": str(cache_path())}
    warm, n_warm = requests_made(sandbox, ap.fetch_calls, sids, client=client, progress=False)
    assert n_warm == 0
    assert warm.attrs["cache"]["hits"] == 120 and warm.attrs["cache"]["misses"] == 0
    pd.testing.assert_frame_equal(warm, cold)
    plain = ap.fetch_calls(sids, client=client, progress=False, cache=False)
    pd.testing.assert_frame_equal(warm, plain)
    assert plain.attrs["cache"] == {"hits": 0, "misses": 120, "path": None}


def test_unsettled_calls_are_always_fetched_again(
    client: ap.Client, sandbox: Any, settled: list[str], unsettled: list[str]
) -> None:
    # In progress or not yet billed: neither stored nor served.
    sids = [*unsettled, *settled[:30]]
    ap.fetch_calls(sids, client=client, progress=False)
    assert cache.info()["calls"] == 30
    again, n = requests_made(sandbox, ap.fetch_calls, sids, client=client, progress=False)
    assert n == len(unsettled)
    assert again.attrs["cache"] == {"hits": 30, "misses": len(unsettled), "path": str(cache_path())}


def test_a_mixed_batch_is_identical_to_an_uncached_one(
    client: ap.Client, sandbox: Any, settled: list[str], unsettled: list[str], load_path: str
) -> None:
    """Cached and fetched rows interleave in input order, with the same dtypes and values."""
    ap.fetch_calls(settled[::2][:60], client=client, progress=False)
    asked = [*settled[:80], unsettled[0], "calnothere", f"  {settled[3]} ", settled[5], ""]
    with pytest.warns(FetchFailuresWarning, match="2 of 85"):
        mixed, n = requests_made(sandbox, ap.fetch_calls, asked, client=client, progress=False)
    assert n == 80 - 40 + 1 + 1  # the uncached settled ones, the unsettled one, the missing one
    with pytest.warns(FetchFailuresWarning, match="2 of 85"):
        plain = ap.fetch_calls(asked, client=client, progress=False, cache=False)
    pd.testing.assert_frame_equal(mixed, plain)
    assert mixed.attrs["failures"] == plain.attrs["failures"]
    assert mixed["call_sid"].tolist() == [*settled[:80], unsettled[0]]


def test_refresh_fetches_everything_again(
    client: ap.Client, sandbox: Any, settled: list[str]
) -> None:
    sids = settled[:50]
    first = ap.fetch_calls(sids, client=client, progress=False)
    again, n = requests_made(
        sandbox, ap.fetch_calls, sids, client=client, progress=False, cache="refresh"
    )
    assert n == 50
    assert again.attrs["cache"]["hits"] == 0
    pd.testing.assert_frame_equal(again, first)
    _, n = requests_made(sandbox, ap.fetch_calls, sids, client=client, progress=False)
    assert n == 0


def test_cache_false_neither_reads_nor_writes(
    client: ap.Client, sandbox: Any, settled: list[str]
) -> None:
    sids = settled[:20]
    ap.fetch_calls(sids, client=client, progress=False, cache=False)
    ap.fetch_history(client=client, progress=False, cache=False, max_calls=30)
    ap.fetch_call(sids[0], client=client, cache=False)
    assert not cache_path().exists()
    ap.fetch_calls(sids, client=client, progress=False)
    _, n = requests_made(sandbox, ap.fetch_calls, sids, client=client, progress=False, cache=False)
    assert n == 20
    with pytest.raises(ap.errors.InvalidRequestError, match="cache must be"):
        ap.fetch_calls(sids, client=client, cache="sometimes")  # type: ignore[arg-type]


def test_fetch_call_uses_the_store(client: ap.Client, sandbox: Any) -> None:
    sid = sandbox.example_call_sid
    cold = ap.fetch_call(sid, client=client)
    warm, n = requests_made(sandbox, ap.fetch_call, sid, client=client)
    assert n == 0 and warm.attrs["cache"]["hits"] == 1
    pd.testing.assert_frame_equal(warm, cold)
    assert warm.loc[0, "cost_eur"] == pytest.approx(0.0294)


def test_price_unit_is_applied_on_load(
    client: ap.Client, settled: list[str], load_path: str
) -> None:
    sids = settled[:40]
    ap.fetch_calls(sids, client=client, progress=False)
    cents = ap.fetch_calls(sids, client=client, progress=False, price_unit="cents")
    assert cents.attrs["cache"]["hits"] == 40
    plain = ap.fetch_calls(sids, client=client, progress=False, price_unit="cents", cache=False)
    pd.testing.assert_frame_equal(cents, plain)
    assert (cents["cost_eur"] == cents["price"] * 0.01).all()


def test_info_and_clear(client: ap.Client, sandbox: Any, settled: list[str]) -> None:
    empty = cache.info()
    assert empty == {"path": str(cache_path()), "calls": 0, "accounts": 0, "size_bytes": 0}
    assert cache.clear() == 0
    ap.fetch_calls(settled[:25], client=client, progress=False)
    info = cache.info()
    assert info["calls"] == 25 and info["accounts"] == 1 and info["size_bytes"] > 0
    assert cache.clear(account_sid="accsomeoneelse") == 0
    assert cache.clear(account_sid=sandbox.account_sid) == 25
    assert cache.info()["calls"] == 0
    ap.fetch_calls(settled[:5], client=client, progress=False)
    assert cache.clear() == 5
    _, n = requests_made(sandbox, ap.fetch_calls, settled[:5], client=client, progress=False)
    assert n == 5


def test_the_cache_dir_is_read_when_used(
    client: ap.Client, settled: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFONICA_NB_CACHE_DIR", str(tmp_path / "elsewhere"))
    df = ap.fetch_calls(settled[:3], client=client, progress=False)
    assert df.attrs["cache"]["path"] == str(tmp_path / "elsewhere" / "calls")
    assert list((tmp_path / "elsewhere" / "calls").rglob("part-*.parquet"))


def test_the_auth_token_is_never_in_the_store(
    client: ap.Client, sandbox: Any, settled: list[str]
) -> None:
    with CallStore() as store:
        ap.fetch_calls(settled[:60], client=client, progress=False)
        ap.fetch_history(client=client, progress=False)
        ap.fetch_history(client=client, progress=False)  # builds the columnar segments
        ap.fetch_call(settled[0], client=client)
        # read while the manifest is open, so its -wal and -shm files exist
        files = [p for p in cache_path().parent.rglob("*") if p.is_file()]
        names = {p.name for p in files}
        assert {"_store.sqlite3", "_store.sqlite3-wal", "_store.sqlite3-shm"} <= names
        parts = [p for p in files if p.suffix == ".parquet"]
        assert parts and all(oct(p.stat().st_mode & 0o777) == oct(0o600) for p in parts)
        token = sandbox.auth_token.encode()
        for path in files:
            data = path.read_bytes()
            assert token not in data, path
            assert token.hex().encode() not in data, path
        assert store.count() >= 250
    manifest = cache_path() / "_store.sqlite3"
    assert oct(manifest.stat().st_mode & 0o777) == oct(0o600)


# -- what the store keeps --------------------------------------------------------------------


def odd_records(everything: pd.DataFrame, sandbox: Any) -> list[dict[str, Any]]:
    """Settled calls with an undocumented field and an unknown channel, as an API may add."""
    records = [dict(r) for r in sandbox.client().iter_calls()][:40]
    for i, record in enumerate(records):
        if i % 3 == 0:
            record["region"] = "eu-west" if i % 2 else 7
        if i % 5 == 1:
            record["channel"] = "sip"
        if i % 7 == 2:
            record["channel"] = "webrtc"
    return records


def test_unknown_categories_and_extra_fields_round_trip(
    sandbox: Any, everything: pd.DataFrame
) -> None:
    records = odd_records(everything, sandbox)
    expected = ap.calls_to_frame(records)
    keep = settled_mask(expected)
    with CallStore() as store:
        stored = store.put_records("acc1", records)
        assert stored == int(keep.sum())
        sids = expected["call_sid"][keep].tolist()
        got = store.get_frame("acc1", sids)
    want = ap.calls_to_frame([r for r, k in zip(records, keep, strict=True) if k])
    pd.testing.assert_frame_equal(got, want)
    assert list(got.columns[-1:]) == ["region"]
    assert "sip" in list(got["channel"].cat.categories)


def test_combine_frames_equals_parsing_everything_at_once(
    sandbox: Any, everything: pd.DataFrame
) -> None:
    records = odd_records(everything, sandbox)
    a, b = records[::2], records[1::2]
    order = [i // 2 if i % 2 == 0 else len(a) + i // 2 for i in range(len(records))]
    combined = combine_frames(
        [ap.calls_to_frame(a), ap.calls_to_frame(b)],
        order=pd.Series(order).to_numpy(),
        extras=[cache.raw_extras(a), cache.raw_extras(b)],
    )
    pd.testing.assert_frame_equal(combined, ap.calls_to_frame(records))


def test_a_call_both_stored_and_listed_is_one_row(sandbox: Any) -> None:
    """The listing's rows and the store's rows of the same calls merge into one row each:
    the most recent version (the later ``updated``; on a tie, the later row)."""
    records = [dict(r) for r in sandbox.client().iter_calls()][20:60]
    newer = dict(records[5], updated="Mon, 02 Nov 2026 09:00:00 +0000", tag="rebilled")
    with CallStore() as store:
        store.put_records("acc1", records)
        table = store.get_table("acc1", [r["call_sid"] for r in records[:10]])
    listed = [*records[:5], newer]
    combined = combine_frames(
        [ap.calls_to_frame(listed), cache.frame_from_table(table)],
        extras=[cache.raw_extras(listed), cache.table_extras(table)],
    )
    df, merged = deduplicate(combined)
    assert merged == 6
    expected = ap.calls_to_frame([*records[:5], newer, *records[6:10]])
    pd.testing.assert_frame_equal(df, expected)
    assert df.loc[5, "tag"] == "rebilled"


def test_a_call_listed_twice_in_one_batch_keeps_its_listing_rank(sandbox: Any) -> None:
    """Two calls created in the same instant keep the order the history listed them in, even
    when one is listed again (a repeat has no rank) in the same batch as its first listing."""
    records = list(sandbox.client().iter_calls())
    keep = settled_mask(ap.calls_to_frame(records))
    settled = [r for r, k in zip(records, keep, strict=True) if k]
    same = settled[0]["created"]
    # Listed first is the SID that sorts last, so only its rank puts it first.
    first, second = sorted(
        (dict(r, created=same) for r in settled[:2]), key=lambda r: r["call_sid"]
    )[::-1]
    with CallStore() as store:
        store.put_records("acc1", [first, second, first], tie_ranks=[0, 1, None])
        table = store.history_table("acc1", since_us=None, upto_us=2**62, exclude=[])
    assert table.column("call_sid").to_pylist() == [first["call_sid"], second["call_sid"]]
    assert table.column("tie_rank").to_pylist() == [0, 1]


def test_the_columnar_segments_follow_every_write(sandbox: Any, everything: pd.DataFrame) -> None:
    """Many small writes, loads in between, an updated call: every load equals the rows."""
    records = [r for r in sandbox.client().iter_calls()]
    frame = ap.calls_to_frame(records)
    keep = settled_mask(frame)
    settled_records = [r for r, k in zip(records, keep, strict=True) if k]
    with CallStore() as store:
        for lo in range(0, 240, 20):
            store.put_records("acc1", settled_records[lo : lo + 20])
            whole = store.get_frame("acc1")  # through the segments
            assert len(whole) == lo + 20
            by_sid = store.get_frame("acc1", [r["call_sid"] for r in settled_records[: lo + 20]])
            assert set(by_sid["call_sid"]) == set(whole["call_sid"])
        files = list(store.path.rglob("part-*.parquet"))
        assert 1 <= len(files) <= 9 * len({f.parent for f in files})  # merged past 8 a folder
        changed = dict(settled_records[7], record_sid="rec-added-later", tag="late")
        store.put_records("acc1", [changed])
        got = store.get_frame("acc1", [r["call_sid"] for r in settled_records[:240]])
        expected = ap.calls_to_frame([*settled_records[:7], changed, *settled_records[8:240]])
        pd.testing.assert_frame_equal(got, expected)
        everything_stored = store.get_frame("acc1")
        assert len(everything_stored) == 240
        assert everything_stored["created"].is_monotonic_decreasing


# -- incremental history ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[Any]:
    with ap.sandbox.running(calls=1000, seed=5, now=DEMO_NOW) as sb:
        yield sb


def test_a_second_history_run_reads_only_a_handful_of_pages(big_sandbox: Any) -> None:
    sb = big_sandbox
    client = sb.client()
    plain = ap.fetch_history(client=client, progress=False, cache=False)
    # workers=1: one listing, so the counts do not depend on how fast the pages came
    first, n_first = requests_made(sb, ap.fetch_history, client=client, progress=False, workers=1)
    assert n_first == -(-len(sb.call_sids) // 20)  # 1000 calls and the fraud night, 20 a page
    second, n_second = requests_made(sb, ap.fetch_history, client=client, progress=False, workers=1)
    assert n_second <= 4
    assert second.attrs["cache"]["hits"] >= len(sb.call_sids) - 20 * n_second
    for df in (first, second):
        pd.testing.assert_frame_equal(df, plain)
    # A narrower range and a status filter reuse the complete listing.
    since, until = "2026-09-01", "2026-10-15"
    plain_range = ap.fetch_history(
        client=client, progress=False, cache=False, since=since, until=until
    )
    ranged, n = requests_made(
        sb, ap.fetch_history, client=client, progress=False, since=since, until=until
    )
    assert n <= 2 and len(ranged) > 100
    pd.testing.assert_frame_equal(ranged, plain_range)
    assert ranged.attrs["filtered_locally"] == 0
    plain_busy = ap.fetch_history(client=client, progress=False, cache=False, status="busy")
    busy, n = requests_made(sb, ap.fetch_history, client=client, progress=False, status="busy")
    assert n <= 2
    pd.testing.assert_frame_equal(busy, plain_busy)
    capped, n = requests_made(sb, ap.fetch_history, client=client, progress=False, max_calls=70)
    pd.testing.assert_frame_equal(capped, plain.head(70))


def test_history_sees_calls_that_settled_since(big_sandbox: Any) -> None:
    """As the clock moves, in-progress calls finish and get billed: the next run shows it."""
    sb = big_sandbox
    client = sb.client()
    ap.fetch_history(client=client, progress=False)
    before = ap.fetch_history(client=client, progress=False)
    assert not before["is_final"].head(5).fillna(False).all()
    try:
        sb.now = "2026-11-02T12:00:00+00:00"
        plain = ap.fetch_history(client=client, progress=False, cache=False)
        later, n = requests_made(sb, ap.fetch_history, client=client, progress=False)
        pd.testing.assert_frame_equal(later, plain)
        assert later["is_final"].head(20).fillna(False).all()
        again, n2 = requests_made(sb, ap.fetch_history, client=client, progress=False)
        assert n2 <= n and n2 <= 2
        pd.testing.assert_frame_equal(again, plain)
    finally:
        sb.now = DEMO_NOW


def test_refresh_history_reads_every_page(big_sandbox: Any) -> None:
    client = big_sandbox.client()
    ap.fetch_history(client=client, progress=False)
    _, n = requests_made(
        big_sandbox, ap.fetch_history, client=client, progress=False, cache="refresh", workers=1
    )
    assert n == -(-len(big_sandbox.call_sids) // 20)


def test_a_server_that_ignores_date_filters_is_read_in_full(
    odd_server: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    records = list(sandbox.client().iter_calls())
    client = odd_server.serve_history(records)
    plain = ap.fetch_history(client=client, since="2026-10-01", progress=False, cache=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="apifonica_nb"):
        for _ in range(2):
            odd_server.hits.clear()
            df = ap.fetch_history(client=client, since="2026-10-01", progress=False)
            pd.testing.assert_frame_equal(df, plain)
            pages = [hit for hit in odd_server.hits if "date_to=" not in hit]
            # every page, both times (windows tried, then given up)
            assert len(pages) == -(-len(records) // 20)
    assert "ignores the date_to filter" in caplog.text
    assert caplog.text.count("reads every page") == 2  # said once per run


def test_a_server_that_does_not_list_newest_first_is_read_in_full(
    odd_server: Any, sandbox: Any
) -> None:
    records = list(sandbox.client().iter_calls())
    client = odd_server.serve_history(records[::-1])
    plain = ap.fetch_history(client=client, progress=False, cache=False)
    ap.fetch_history(client=client, progress=False)
    odd_server.hits.clear()
    df = ap.fetch_history(client=client, progress=False)
    assert len(odd_server.hits) == -(-len(records) // 20)
    pd.testing.assert_frame_equal(df, plain)


# -- broken files ----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["manifest", "a Parquet file"])
def test_a_corrupt_file_gives_a_clear_error_and_clear_resets_it(
    client: ap.Client, settled: list[str], which: str
) -> None:
    ap.fetch_calls(settled[:5], client=client, progress=False)
    path = cache_path()
    target = path / "_store.sqlite3" if which == "manifest" else next(path.rglob("part-*.parquet"))
    for extra in (path / "_store.sqlite3-wal", path / "_store.sqlite3-shm"):
        extra.unlink(missing_ok=True)
    target.write_bytes(os.urandom(8192))
    with pytest.raises(CacheError) as err:
        ap.fetch_calls(settled[:3], client=client, progress=False)
    message = str(err.value)
    assert str(path) in message and "ap.cache.clear()" in message and "delete" in message
    assert isinstance(err.value, ap.errors.ApifonicaError)
    assert cache.clear() == 0
    assert len(ap.fetch_calls(settled[:3], client=client, progress=False)) == 3


def test_a_foreign_sqlite_file_gives_a_clear_error(client: ap.Client, settled: list[str]) -> None:
    path = cache_path().with_name("calls.sqlite3")  # where the previous version kept its store
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.close()
    with pytest.raises(CacheError, match="another program's SQLite database") as err:
        ap.fetch_history(client=client, progress=False, max_calls=5)
    assert str(path) in str(err.value)
    with pytest.raises(CacheError):
        cache.info()


def test_a_cache_dir_that_cannot_be_created_gives_a_clear_error(
    client: ap.Client, settled: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("APIFONICA_NB_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(CacheError, match="cannot be created") as err:
        ap.fetch_calls(settled[:2], client=client, progress=False)
    assert "APIFONICA_NB_CACHE_DIR" in str(err.value) and "cache=False" in str(err.value)
    assert len(ap.fetch_calls(settled[:2], client=client, progress=False, cache=False)) == 2


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "calls"
    CallStore(path).close()
    with sqlite3.connect(path / "_store.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(CacheError, match="another version of apifonica_nb"):
        CallStore(path)


# -- concurrency and crashes -----------------------------------------------------------------

WORKER = """
import os, sys, json
import apifonica_nb as ap
sids = json.loads(sys.argv[1])
client = ap.Client(account_sid=os.environ["SB_SID"], auth_token=os.environ["SB_TOKEN"],
                   base_url=os.environ["SB_URL"])
for _ in range(int(sys.argv[2])):
    df = ap.fetch_calls(sids, client=client, progress=False, workers=int(sys.argv[3]))
    assert df["call_sid"].tolist() == sids, "order"
    hist = ap.fetch_history(client=client, progress=False)
print(json.dumps(df.attrs["cache"]))
"""


def assert_one_row_per_call() -> None:
    """Read the files as any engine would: every file whole, no call in two of them."""
    files = sorted(cache_path().rglob("*.parquet"))
    sids = pa.concat_arrays(
        [pq.read_table(f, columns=["call_sid"]).column(0).combine_chunks() for f in files]
    )
    assert len(sids) == len(pc.unique(sids))


def worker_env(sandbox: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SB_SID=sandbox.account_sid, SB_TOKEN=sandbox.auth_token, SB_URL=sandbox.url)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_two_processes_share_the_store(sandbox: Any, settled: list[str]) -> None:
    a, b = settled[:150], settled[90:260]  # overlapping batches
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(sids), "3", "4"],
            env=worker_env(sandbox),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for sids in (a, b)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["misses"] == 0  # the last round: all cached
    with CallStore() as store:
        assert store.count(sandbox.account_sid) == len(settled)
    assert_one_row_per_call()
    plain = ap.fetch_calls(settled, client=sandbox.client(), progress=False, cache=False)
    pd.testing.assert_frame_equal(
        ap.fetch_calls(settled, client=sandbox.client(), progress=False), plain
    )


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing_committed(settled: list[str]) -> None:
    with ap.sandbox.running(calls=300, seed=7, now=DEMO_NOW, latency=0.05) as sb:
        frame = ap.calls_to_frame(list(sb.client().iter_calls()))
        sids = frame["call_sid"][settled_mask(frame)].tolist()
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(sids), "1", "2"],
            env=worker_env(sb),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            stored = 0
            while stored < 40 and time.monotonic() < deadline:
                time.sleep(0.2)
                if cache_path().exists():
                    with CallStore() as store:  # reading while the child writes
                        stored = store.count()
            assert proc.poll() is None, "the batch finished before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert_one_row_per_call()
        with CallStore() as store:
            kept = store.count()
            kept_sids = set(store.get_frame(sb.account_sid, sids)["call_sid"])
        assert 40 <= kept < len(sids)
        sb.latency = 0.0
        client = sb.client()
        df, n = requests_made(sb, ap.fetch_calls, sids, client=client, progress=False)
        assert n == len(sids) - kept  # only the rest
        assert df.attrs["cache"]["hits"] == len(kept_sids) == kept
        pd.testing.assert_frame_equal(
            df, ap.fetch_calls(sids, client=client, progress=False, cache=False)
        )


def test_ctrl_c_keeps_what_was_fetched(settled: list[str]) -> None:
    with ap.sandbox.running(calls=300, seed=7, now=DEMO_NOW, latency=0.03) as sb:
        client = sb.client()
        frame = ap.calls_to_frame(list(client.iter_calls()))
        sids = frame["call_sid"][settled_mask(frame)].tolist()

        problems: list[BaseException] = []
        fetching = threading.Event()

        def interrupt_when_some_are_stored() -> None:
            # No race with the clock: once 20 calls are stored, the server is made too slow
            # for the rest to arrive before the Ctrl-C, however loaded the machine is; and
            # the Ctrl-C is sent only while the fetch runs (never into pytest afterwards).
            try:
                while fetching.is_set():
                    time.sleep(0.05)
                    if cache_path().exists():
                        with CallStore() as store:  # a reader while the batch writes
                            if store.count() >= 20:
                                break
            except BaseException as exc:  # reading while writing must work: the test says so
                problems.append(exc)
            sb.latency = 5.0  # the rest would take minutes; one in flight, 5 s
            if fetching.is_set():
                _thread.interrupt_main()

        fetching.set()
        watcher = threading.Thread(target=interrupt_when_some_are_stored, daemon=True)
        watcher.start()
        try:
            ap.fetch_calls(sids, client=client, progress=False, workers=2)  # Ctrl-C: what came
        finally:
            fetching.clear()
        watcher.join()
        assert problems == []
        with CallStore() as store:
            kept = store.count()
        assert 20 <= kept < len(sids)
        sb.latency = 0.0
        df, n = requests_made(sb, ap.fetch_calls, sids, client=client, progress=False)
        assert n == len(sids) - kept
        assert len(df) == len(sids)
