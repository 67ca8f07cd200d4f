"""Other engines read the store as it is: ap.cache.scan() (DuckDB), DuckDB, Polars, Spark."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.cache import CallStore, cache_path, settled_mask

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def stored(sandbox: Any) -> pd.DataFrame:
    """The shared sandbox's settled calls, stored under two accounts; the expected frame."""
    records = list(sandbox.client().iter_calls())
    frame = ap.calls_to_frame(records)
    keep = settled_mask(frame)
    settled = [r for r, k in zip(records, keep, strict=True) if k]
    with CallStore() as store:
        store.put_records(sandbox.account_sid, settled)
        store.put_records("accother", settled[:10])
    return ap.calls_to_frame(settled)


def by_status(df: pd.DataFrame) -> dict[str, int]:
    counts = df["status"].astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def test_scan_is_a_duckdb_relation_with_the_frames_columns_and_numbers(
    sandbox: Any, stored: pd.DataFrame
) -> None:
    rel = ap.cache.scan(sandbox.account_sid)
    assert rel.columns == list(ap.CALL_DTYPES)
    rows = rel.aggregate("status, count(*) AS n").fetchall()
    assert {s: n for s, n in rows} == by_status(stored)
    total = rel.aggregate("sum(cost_eur)").fetchall()[0]
    assert total[0] == pytest.approx(stored["cost_eur"].sum())
    assert ap.cache.scan().aggregate("count(*)").fetchall()[0] == (len(stored) + 10,)
    cents = ap.cache.scan(sandbox.account_sid, price_unit="cents")
    cost = cents.aggregate("sum(cost_eur)").fetchall()[0]
    assert cost[0] == pytest.approx(stored["price"].sum() * 0.01)
    back = rel.order("created DESC, call_sid").df()
    assert (
        back["call_sid"].tolist()
        == stored.sort_values(["created", "call_sid"], ascending=[False, True])["call_sid"].tolist()
    )


def test_scan_counts_a_call_once_while_a_merge_leaves_it_in_two_files(
    sandbox: Any, stored: pd.DataFrame
) -> None:
    """A merge writes its file before removing the ones it replaces (a crash may leave both);
    its file names them in its footer, so scan() reads each call once, the new version."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from apifonica_nb.cache import REPLACES_KEY

    first = sorted(cache_path().rglob("part-*.parquet"))[0]
    old = pq.read_table(first)
    newer = old.set_column(
        old.schema.get_field_index("tag"), "tag", pa_strings(["rebilled"] * old.num_rows)
    ).set_column(
        old.schema.get_field_index("stored_at"),
        "stored_at",
        pc.add(old.column("stored_at").cast("int64"), 1).cast(old.schema.field("stored_at").type),
    )
    copy = first.with_name("part-9999999999999999-copy.parquet")
    pq.write_table(newer.replace_schema_metadata({REPLACES_KEY: first.name}), copy)
    rel = ap.cache.scan(sandbox.account_sid)
    assert rel.aggregate("count(*)").fetchall()[0] == (len(stored),)
    tags = rel.filter("tag = 'rebilled'").aggregate("count(*)").fetchall()[0]
    assert tags == (old.num_rows,)
    assert ap.cache.scan().aggregate("count(*)").fetchall()[0] == (len(stored) + 10,)
    with CallStore() as store:  # the store's own reads agree: the newest version
        frame = store.get_frame(sandbox.account_sid)
    assert len(frame) == len(stored)
    assert int((frame["tag"] == "rebilled").sum()) == old.num_rows
    copy.unlink()


def pa_strings(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def test_scan_of_an_empty_store_has_the_columns_and_no_rows() -> None:
    rel = ap.cache.scan()
    assert rel.columns == list(ap.CALL_DTYPES)
    assert rel.aggregate("count(*)").fetchall()[0] == (0,)
    with pytest.raises(ValueError, match="price_unit"):
        ap.cache.scan(price_unit="dollars")


def test_duckdb_reads_the_folder_with_no_code_of_ours(sandbox: Any, stored: pd.DataFrame) -> None:
    import duckdb

    root = cache_path()
    rows = duckdb.sql(
        f"SELECT account, status, count(*) FROM read_parquet('{root}/*/*/*.parquet', "
        "hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    mine = {s: n for a, s, n in rows if a == sandbox.account_sid}
    assert mine == by_status(stored)
    assert sum(n for a, _, n in rows if a == "accother") == 10


def test_polars_reads_the_folder_with_no_code_of_ours(sandbox: Any, stored: pd.DataFrame) -> None:
    import polars as pl

    lazy = pl.scan_parquet(f"{cache_path()}/**/*.parquet", hive_partitioning=True)
    counts = (
        lazy.filter(pl.col("account") == sandbox.account_sid).group_by("status").len().collect()
    )
    assert dict(zip(counts["status"], counts["len"], strict=True)) == by_status(stored)
    months = lazy.select(pl.col("month").unique()).collect()["month"].to_list()
    assert all(re.fullmatch(r"\d{4}-\d{2}", str(m)) for m in months)


def readme_spark_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    spark = [b for b in blocks if "SparkSession" in b]
    assert len(spark) == 1, "the README shows one Spark snippet"
    return spark[0]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="PySpark needs Java (a headless JRE)")
def test_the_readmes_spark_snippet_reads_the_store(
    sandbox: Any, stored: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    # The snippet's getOrCreate() returns the run's shared session when the engine tests
    # made one: stopping that would break every later Spark test.
    shared = SparkSession.getActiveSession()
    namespace: dict[str, Any] = {}
    try:
        exec(readme_spark_snippet(), namespace)  # the README's own code
        calls, by_month = namespace["calls"], namespace["by_month"]
        assert calls.count() == len(stored) + 10
        mine = by_month.filter(by_month.account == sandbox.account_sid).collect()
        got: dict[str, int] = {}
        for row in mine:
            got[row["status"]] = got.get(row["status"], 0) + row["count"]
        assert got == by_status(stored)
        assert "|" in capsys.readouterr().out  # .show() printed its table
    finally:
        if "spark" in namespace and shared is None:
            namespace["spark"].stop()


def test_scan_reads_times_in_utc_on_a_machine_in_another_zone(
    sandbox: Any, stored: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB shows timestamps in the machine's zone unless told: scan() says UTC, so the
    summary takes the relation (it refuses times read in another zone) and agrees."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        rel = ap.cache.scan(sandbox.account_sid)
        assert str(rel.df()["created"].dt.tz) in {"UTC", "Etc/UTC"}
        assert ap.summary.totals(rel).period == ap.summary.totals(stored).period
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_report_of_the_store_reads_as_the_report_of_its_frame(
    sandbox: Any, stored: pd.DataFrame
) -> None:
    """ap.report_html over scan() (aggregated in DuckDB) gives the tables, KPIs and anomaly
    sentence of the same calls loaded into pandas."""
    from datetime import UTC, datetime

    fixed = {
        "account": "acc",
        "source": "the local store",
        "generated": datetime(2026, 12, 1, tzinfo=UTC),
    }
    lazy = ap.reporting.report_html(ap.cache.scan(sandbox.account_sid), **fixed)
    eager = ap.reporting.report_html(stored, **fixed)

    def tables(html: str) -> str:
        start = html.index('<section id="summary">')
        return html[start : html.index('<section class="chart"', start)]

    assert f"{len(stored):,}" in tables(eager)
    assert tables(lazy) == tables(eager)
    sentence = re.compile(r'<p class="anomalies" data-anomalies="sentence">(.*?)</p>')
    assert sentence.findall(lazy) == sentence.findall(eager) != []
