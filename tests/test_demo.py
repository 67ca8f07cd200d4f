"""``apifonica-nb demo``: JupyterLab on the notebooks, wired to a sandbox, stopped by Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_until(proc: subprocess.Popen[str], pattern: str, seconds: float) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            seen += line
            match = re.search(pattern, line)
            if match:
                return match
        if proc.poll() is not None:
            break
    raise AssertionError(f"no line matching {pattern!r} within {seconds} s; got:\n{seen}")


@contextlib.contextmanager
def demo(*flags: str) -> Iterator[subprocess.Popen[str]]:
    """Run ``apifonica-nb demo --no-browser FLAGS`` with no credentials; never leave it behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIFONICA_")}
    env["JUPYTER_RUNTIME_DIR"] = str(Path(env.get("APIFONICA_NB_CACHE_DIR", "/tmp")) / "rt")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apifonica_nb", "demo", "--no-browser", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serves_the_notebooks_on_the_sandbox_and_stops_cleanly(stop: int) -> None:
    port = free_port()
    with demo(f"--port={port}") as proc:
        sandbox_url = read_until(proc, r"Sandbox: .* at (http://127\.0\.0\.1:\d+/v2)", 60).group(1)
        url = read_until(proc, r"Open (http://127\.0\.0\.1:\d+/\S+)", 60).group(1)
        assert f":{port}/lab/tree/01-quickstart.ipynb?token=" in url
        token = url.rsplit("token=", 1)[1]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10
        ) as resp:
            names = {item["name"] for item in json.load(resp)["content"]}
        assert {"01-quickstart.ipynb", "04-explorer.ipynb"} <= names
        # the sandbox the notebooks are wired to answers, and refuses anonymous requests
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{sandbox_url}/accounts/x/calls", timeout=10)
        assert info.value.code == 401
        info.value.close()
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{sandbox_url}/accounts/x/calls", timeout=2)


@pytest.mark.slow
def test_demo_voila_serves_the_explorer_as_a_dashboard() -> None:
    if shutil.which("voila") is None:
        pytest.skip("Voila is not installed (pip install 'apifonica_nb[demo]')")
    port = free_port()
    with demo("--voila", f"--port={port}") as proc:
        url = read_until(proc, r"Open (http://127\.0\.0\.1:\d+/\S*)", 90).group(1)
        # Voila runs the notebook before it answers: the page holds the rendered explorer.
        with urllib.request.urlopen(url, timeout=120) as resp:
            page = resp.read().decode("utf-8", errors="replace")
        assert "<title>04-explorer</title>" in page
        assert "application/vnd.jupyter.widget-view+json" in page
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
