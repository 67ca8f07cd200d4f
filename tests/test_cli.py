"""The ``apifonica-nb`` command line, run in-process and as a real console script."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.cli import main
from apifonica_nb.connect import DEMO_NOW


def test_summary_on_the_sandbox_matches_the_frame(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "--sandbox", "--calls", "150", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    with ap.sandbox.running(calls=150, seed=5, now=DEMO_NOW) as sb:
        df = ap.fetch_history(client=sb.client(), progress=False)
    # 150 seeded calls and the fraud night's 22
    assert out.startswith(f"{len(df)} calls, total cost {df['cost_eur'].sum():.2f} EUR")
    for status, count in df["status"].value_counts().items():
        if count:
            assert re.search(rf"^{status}\s+{count}\s", out, re.M), status
    viber_out = df[(df["channel"] == "viber") & (df["direction"] == "outbound")]
    assert f"{viber_out['cost_eur'].sum():,.4f}" in out


def test_summary_uses_env_credentials_when_set(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sandbox.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    assert main(["summary"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{len(sandbox.call_sids)} calls")
    assert sandbox.url in captured.err
    assert sandbox.auth_token not in captured.out + captured.err


def test_api_errors_exit_1_with_a_message_and_no_traceback(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", "not-the-token")
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    assert main(["summary"]) == 1
    err = capsys.readouterr().err
    assert "refused the credentials" in err
    assert "Traceback" not in err and "not-the-token" not in err


@pytest.mark.slow
def test_console_script_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "apifonica_nb", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for command in ("sandbox", "summary"):
        assert command in out


def test_fetch_writes_typed_parquet_and_csv(tmp_path: Any, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "calls.parquet"
    args = ["fetch", "--sandbox", "--calls", "120", "--seed", "4", "--status", "completed"]
    assert main([*args, "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    with ap.sandbox.running(calls=120, seed=4, now=DEMO_NOW) as sb:
        expected = ap.fetch_history(client=sb.client(), status="completed", progress=False)
    assert df["call_sid"].tolist() == expected["call_sid"].tolist()
    assert df["created"].dtype == expected["created"].dtype
    assert df["duration"].dtype == "Int64"
    csv = tmp_path / "calls.csv"
    assert main([*args, "--out", str(csv)]) == 0
    back = pd.read_csv(csv)
    assert back["call_sid"].tolist() == expected["call_sid"].tolist()
    assert back["created"].iloc[0] == expected["created"].iloc[0].strftime("%Y-%m-%dT%H:%M:%S%z")


def test_fetch_sids_file_keeps_bad_sids_as_failures(tmp_path: Any, sandbox: Any) -> None:
    sids = tmp_path / "sids.txt"
    sids.write_text(f"{sandbox.call_sids[0]}, {sandbox.call_sids[1]}\n../evil\ncalmissing\n")
    out = tmp_path / "out.parquet"
    env = {
        "APIFONICA_ACCOUNT_SID": sandbox.account_sid,
        "APIFONICA_AUTH_TOKEN": sandbox.auth_token,
        "APIFONICA_BASE_URL": sandbox.url,
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert main(["fetch", "--sids-file", str(sids), "--out", str(out)]) == 0
    assert pd.read_parquet(out)["call_sid"].tolist() == list(sandbox.call_sids[:2])
    failures = pd.read_csv(tmp_path / "out.failures.csv")
    assert sorted(failures["call_sid"]) == ["../evil", "calmissing"]


def test_report_writes_a_standalone_html(tmp_path: Any) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "--sandbox", "--calls", "80", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert '<div class="kpi" data-kpi="calls"><dt>calls</dt><dd>80</dd></div>' in html
    assert html.count("* plotly.js v") == 1  # inlined once (test_report checks it is offline)


def test_fetch_cache_flags(tmp_path: Any, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sandbox.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    sids = tmp_path / "sids.txt"
    sids.write_text("\n".join(sandbox.call_sids[20:60]))
    out = str(tmp_path / "o.parquet")

    def requests_for(*flags: str) -> int:
        before = sandbox.request_count
        assert main(["fetch", "--sids-file", str(sids), "--out", out, *flags]) == 0
        return int(sandbox.request_count - before)

    assert requests_for() == 40  # cold
    assert requests_for() < 40  # settled calls now come from the cache
    assert requests_for("--refresh") == 40
    assert requests_for("--no-cache") == 40
