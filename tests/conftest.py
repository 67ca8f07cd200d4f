"""Shared fixtures: one seeded sandbox per session, and no way to reach the real API."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW

SESSION_CALLS = 300
_API_VARIABLES = ("APIFONICA_ACCOUNT_SID", "APIFONICA_AUTH_TOKEN", "APIFONICA_BASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the whole run, including the notebook kernels nbval starts (they inherit this
    environment): no real credentials, and a local call store of the run's own."""
    for name in _API_VARIABLES:
        os.environ.pop(name, None)
    os.environ["APIFONICA_NB_CACHE_DIR"] = tempfile.mkdtemp(prefix="apifonica-nb-cache-")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The example notebooks (nbval) take most of a run: they count as slow, so that
    ``pytest -m "not slow"`` is the quick loop and the full run still executes them."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_real_api(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test can reach the real API, or share a cache with the user's own."""
    for name in _API_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APIFONICA_NB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """The shared seeded sandbox (frozen clock): do not set faults on it, start your own."""
    with ap.sandbox.running(calls=SESSION_CALLS, seed=7, now=DEMO_NOW) as sb:
        yield sb


ENGINES = ("pandas", "polars", "duckdb", "spark")


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for the run (UTC, one shuffle partition), or a skip."""
    import shutil

    if shutil.which("java") is None:
        pytest.skip("PySpark needs Java: apt-get install -y openjdk-17-jre-headless")
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("apifonica-nb-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    yield spark
    spark.stop()


@pytest.fixture(params=ENGINES)
def to_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Any], Any]:
    """Hand a call frame to one engine, as the store gives it: a function pandas -> native.

    pandas returns the frame itself; the others get the same calls as plain columns (text
    for categoricals, UTC timestamps) from a Parquet file, as they would read the store:
    a Polars LazyFrame, a DuckDB relation, a PySpark DataFrame. The test's id names the engine.
    """
    engine = request.param
    spark = request.getfixturevalue("spark_session") if engine == "spark" else None

    def convert(df: Any) -> Any:
        if engine == "pandas":
            return df
        import pyarrow as pa
        import pyarrow.parquet as pq

        plain = df.copy()
        for name in plain.columns:
            if isinstance(plain[name].dtype, pd.CategoricalDtype):
                plain[name] = plain[name].astype("str")
        table = pa.Table.from_pandas(plain, preserve_index=False)
        path = tmp_path_factory.mktemp("engine") / "calls.parquet"
        pq.write_table(table, path)
        if engine == "polars":
            import polars as pl

            return pl.scan_parquet(path)
        if engine == "duckdb":
            import duckdb

            return duckdb.connect().read_parquet(str(path))
        return spark.read.parquet(str(path))

    convert.engine = engine  # type: ignore[attr-defined]
    return convert


@pytest.fixture
def client(sandbox: Any) -> ap.Client:
    return sandbox.client()


@pytest.fixture
def fault_sandbox() -> Iterator[Any]:
    """A small sandbox of this test's own, to set faults and latency on."""
    with ap.sandbox.running(calls=60, seed=11, now=DEMO_NOW) as sb:
        yield sb


@dataclass
class OddServer:
    """A real loopback HTTP server that answers whatever a test scripts, for wire oddities the
    sandbox does not produce (foreign or repeating ``next`` links, odd envelopes)."""

    url: str = ""
    #: path (without query) -> callable(request) -> (status, headers, body)
    routes: dict[str, Callable[[Request], tuple[int, dict[str, str], bytes]]] = field(
        default_factory=dict
    )
    hits: list[str] = field(default_factory=list)

    def json(self, path: str, payload: Any, status: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.routes[path] = lambda _req: (status, {"Content-Type": "application/json"}, body)

    def serve_history(self, records: list[dict[str, Any]]) -> ap.Client:
        """Serve ``records`` as account ``acc1``'s history, 20 a page, ignoring every filter
        (dates included), and return a client for it. The records become acc1's (in place, so
        what a test builds from them matches): the client refuses calls of another account."""
        for record in records:
            record["account_sid"] = "acc1"
        pages = [records[i : i + 20] for i in range(0, len(records), 20)]
        for n, page in enumerate(pages):
            nxt = f"/v2/accounts/acc1/calls/p{n + 1}" if n + 1 < len(pages) else None
            path = "/v2/accounts/acc1/calls" if n == 0 else f"/v2/accounts/acc1/calls/p{n}"
            self.json(path, {"limit": 20, "prev": None, "next": nxt, "calls": page})
        return ap.Client(account_sid="acc1", auth_token="tok", base_url=self.url)


@pytest.fixture
def odd_server() -> Iterator[OddServer]:
    state = OddServer()

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        state.hits.append(request.full_path)
        handler = state.routes.get(request.path)
        if handler is None:
            return Response(b'{"status_code": 404}', status=404, mimetype="application/json")
        status, headers, body = handler(request)
        return Response(body, status=status, headers=headers)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits up to one interval, at every test teardown.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/v2"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# -- a real browser ----------------------------------------------------------------------------

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
# As root, without a sandbox; and no background traffic, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (skipped, with the reason, when unavailable)."""
    executable = next((p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)), None)
    if executable is None:
        pytest.skip(f"no Chromium at {' or '.join(CHROMIUM_PATHS)} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # any launch failure means: no usable browser here
            pytest.skip(f"Playwright could not launch {executable}: {str(exc)[:300]}")
        try:
            yield browser
        finally:
            browser.close()
