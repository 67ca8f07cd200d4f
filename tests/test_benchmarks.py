"""Every benchmark script runs in ``--quick`` mode and prints its table (no timing asserted).

Benchmarks are scripts, not timed tests: this only checks that each one still runs end to end
on tiny sizes, exits 0 and prints a table with a ratio column and the machine's CPU count.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

#: Each script starts a sandbox process and runs its tables: seconds apiece.
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: Script -> a column header its table must have besides "ratio".
SCRIPTS = {
    "bench_batch.py": "fetch_calls s",
    "bench_history.py": "same frame",
    "bench_sandbox.py": "req/s",
    "bench_parse.py": "calls_to_frame s",
    "bench_cache.py": "seconds",
    "bench_charts.py": "JSON kB",
    "bench_explorer.py": "median s",
    "bench_store.py": "B/call",
    "bench_family.py": "requests",
    "bench_rate_limit.py": "% of limit",
    "bench_kpis.py": "ours s",
    "bench_scale.py": "duckdb s",
}


def test_every_script_is_listed() -> None:
    assert sorted(p.name for p in BENCHMARKS.glob("bench_*.py")) == sorted(SCRIPTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run_prints_its_table(script: str, tmp_path: Path) -> None:
    env = dict(os.environ, APIFONICA_NB_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,  # the scripts find the package from their own folder
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(rf"cpu_count(\(\))?\s*=\s*{os.cpu_count()}\b", out), out
    headers = [line for line in out.splitlines() if re.search(r"\bratio\b", line)]
    assert headers, out
    assert any(SCRIPTS[script] in line for line in headers), out
    # At least one measured ratio (e.g. "7.6x" or "7.6") under a header.
    assert re.search(r"\s\d[\d,]*(\.\d+)?x?(\s|$)", out.split(headers[0], 1)[1]), out
    assert "Traceback" not in done.stderr
