"""``apifonica-nb demo``: JupyterLab (or Voila) on a working copy of the notebooks, wired to a
sandbox, stopped by Ctrl-C; the checkout is left as it was."""

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
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
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


def git_status() -> str:
    """``git status --porcelain`` of the checkout ("" when nothing changed, or no git here)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return ""
    out = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout


@contextlib.contextmanager
def demo(*flags: str, workdir: Path) -> Iterator[subprocess.Popen[str]]:
    """Run ``apifonica-nb demo --no-browser FLAGS`` with no credentials; never leave it behind.

    The working folder is given by ``APIFONICA_NB_DEMO_DIR``, as a user would set it; the
    command runs from the checkout, where a careless demo would write.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIFONICA_")}
    env["JUPYTER_RUNTIME_DIR"] = str(workdir.parent / "rt")
    env["APIFONICA_NB_DEMO_DIR"] = str(workdir)
    env["APIFONICA_NB_CACHE_DIR"] = str(workdir.parent / "cache")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "apifonica_nb", "demo", "--no-browser", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            # SIGTERM first: the command stops its server (in a session of its own, which a
            # SIGKILL of the command would orphan), then whatever is left goes.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_serves_the_notebooks_on_the_sandbox_and_stops_cleanly(
    stop: int, tmp_path: Path
) -> None:
    port = free_port()
    workdir = tmp_path / "demo"
    with demo(f"--port={port}", workdir=workdir) as proc:
        sandbox_url = read_until(proc, r"Sandbox: .* at (http://127\.0\.0\.1:\d+/v2)", 60).group(1)
        assert read_until(proc, r"Notebooks: (\S+)", 30).group(1) == str(workdir)
        url = read_until(proc, r"Open (http://127\.0\.0\.1:\d+/\S+)", 60).group(1)
        assert f":{port}/lab/tree/01-quickstart.ipynb?token=" in url
        token = url.rsplit("token=", 1)[1]
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10
        ) as resp:
            names = {item["name"] for item in json.load(resp)["content"]}
        assert {"01-quickstart.ipynb", "04-explorer.ipynb", "call-explorer.ipynb"} <= names
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


def run_in_kernel(base: str, token: str, kernel_id: str, code: str) -> list[dict[str, Any]]:
    """Execute ``code`` in a kernel of the server, over its websocket, as JupyterLab does;
    return the outputs in nbformat's shape (an error output fails the test)."""
    import websocket  # jupyter_server's own dependency

    ws = websocket.create_connection(
        f"ws://{base}/api/kernels/{kernel_id}/channels?token={token}", timeout=120
    )
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "channel": "shell",
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "session": uuid.uuid4().hex,
                    "username": "test",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
        )
    )
    outputs: list[dict[str, Any]] = []
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                outputs.append(
                    {"output_type": "stream", "name": content["name"], "text": content["text"]}
                )
            elif kind in ("execute_result", "display_data"):
                out = {"output_type": kind, "data": content["data"], "metadata": {}}
                if kind == "execute_result":
                    out["execution_count"] = content["execution_count"]
                outputs.append(out)
            elif kind == "error":
                raise AssertionError(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return outputs
    finally:
        ws.close()


@pytest.mark.slow
def test_demo_leaves_the_checkout_as_it_was(tmp_path: Path) -> None:
    """Run a notebook through the demo's server, save it, export: all of it in the working
    folder, nothing in the checkout (``git status`` as before: clean in CI)."""
    before = git_status()
    workdir = tmp_path / "demo"
    port = free_port()
    with demo(f"--port={port}", workdir=workdir) as proc:
        token = read_until(proc, r"Open http://\S+token=(\w+)", 90).group(1)
        base = f"127.0.0.1:{port}"
        api = f"http://{base}/api"
        headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

        def call(method: str, path: str, body: Any = None) -> Any:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(f"{api}{path}", data, headers, method=method)
            with urllib.request.urlopen(request, timeout=60) as resp:
                payload = resp.read()
            return json.loads(payload) if payload else None

        name = "04-explorer.ipynb"
        session = call(
            "POST", "/sessions", {"path": name, "type": "notebook", "kernel": {"name": "python3"}}
        )
        kernel = session["kernel"]["id"]
        notebook = call("GET", f"/contents/{name}")["content"]
        cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        for number, cell in enumerate(cells, start=1):
            cell["outputs"] = run_in_kernel(base, token, kernel, "".join(cell["source"]))
            cell["execution_count"] = number
        exported = run_in_kernel(base, token, kernel, "print(explorer.export('csv').name)")
        # What JupyterLab's autosave does: the notebook with its outputs, through the server.
        call(
            "PUT", f"/contents/{name}", {"type": "notebook", "format": "json", "content": notebook}
        )
        call("DELETE", f"/sessions/{session['id']}")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0

    export_name = exported[0]["text"].strip()
    assert (workdir / export_name).is_file()  # the export is in the working folder
    saved = json.loads((workdir / name).read_text())
    assert any(c.get("outputs") for c in saved["cells"] if c["cell_type"] == "code")
    original = json.loads((ROOT / "notebooks" / name).read_text())
    assert saved != original  # the copy changed; the project's notebook did not
    assert not list((ROOT / "notebooks").glob("calls-*"))
    assert git_status() == before


@pytest.mark.slow
@pytest.mark.browser
def test_demo_voila_dashboard_exports_and_draws_every_tab(chromium: Any, tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    port = free_port()
    with demo("--voila", f"--port={port}", workdir=workdir) as proc:
        url = read_until(proc, r"Open (http://127\.0\.0\.1:\d+/\S*)", 90).group(1)
        context = chromium.new_context(
            viewport={"width": 1200, "height": 800}, accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(url, timeout=120_000)  # Voila runs the notebook before it answers
            explorer = page.locator(".apifonica-explorer")
            explorer.wait_for(timeout=120_000)
            text = page.inner_text("body")
            # A dashboard: the title and the form, no notebook prose, no server path.
            assert "Apifonica call explorer" in text
            assert "explorer.fetch()" not in text and str(workdir) not in text
            assert explorer.locator(".widget-text", has_text="Folder").count() == 0
            explorer.locator("button", has_text="Fetch").click()
            done = page.get_by_text(re.compile(r"done: \d+ calls"))
            done.wait_for()
            # The explorer's own sandbox: 500 seeded calls and the fraud night on top.
            fetched = int(re.search(r"done: (\d+) calls", done.inner_text()).group(1))  # type: ignore[union-attr]
            assert fetched > 500
            # Every tab, hidden when the fetch ended, shows a plot of non-zero height.
            tabs = explorer.locator(".widget-tab .lm-TabBar-tab")
            titles = [tabs.nth(i).inner_text() for i in range(tabs.count())]
            assert "Cost over time" in titles
            for title in titles:
                explorer.locator(".lm-TabBar-tab", has_text=title).click()
                if title == "KPIs":  # a table, not a plot: it shows rows
                    explorer.locator("table", has_text="ASR").first.wait_for()
                    continue
                page.wait_for_function(
                    """() => [...document.querySelectorAll('.apifonica-explorer .js-plotly-plot')]
                        .some(p => p.offsetParent !== null
                              && p.getBoundingClientRect().height > 100)"""
                )
            # Both exports download through their links, and are the files written.
            for label, suffix in (("Export CSV", ".csv"), ("Export Parquet", ".parquet")):
                explorer.locator("button", has_text=label).click()
                link = explorer.locator(f"a[download][href$='{suffix}']").first
                link.wait_for()
                with page.expect_download() as download:
                    link.click()
                (written,) = workdir.glob(f"calls-*{suffix}")
                got = Path(download.value.path())
                assert got.read_bytes() == written.read_bytes()
            assert len(pd.read_csv(next(workdir.glob("calls-*.csv")))) == fetched
            assert len(pd.read_parquet(next(workdir.glob("calls-*.parquet")))) == fetched
            assert str(workdir) not in page.inner_text("body")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print("screenshot of the failure:", tmp_path / "failure.png")
            raise
        finally:
            context.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_the_working_copy_keeps_what_the_user_changed(tmp_path: Path) -> None:
    from apifonica_nb.demo import DASHBOARD, demo_folder

    work = tmp_path / "work"
    first = demo_folder(str(work))
    assert {"01-quickstart.ipynb", DASHBOARD.name} <= set(first.copied) and not first.kept
    assert (work / DASHBOARD.name).read_bytes() == DASHBOARD.read_bytes()
    (work / "01-quickstart.ipynb").write_text("{}")  # the user's own edits
    again = demo_folder(str(work))
    assert "01-quickstart.ipynb" in again.kept and not again.copied
    assert (work / "01-quickstart.ipynb").read_text() == "{}"
    assert str(work) in again.describe() and "kept as you left them" in again.describe()
    with pytest.raises(SystemExit, match="must not be the notebooks' own"):
        demo_folder(str(ROOT / "notebooks"))


def test_the_working_folder_defaults_to_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    from apifonica_nb.demo import demo_folder

    monkeypatch.delenv("APIFONICA_NB_DEMO_DIR", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *a, **k: str(tmp_path / "data"))
    assert demo_folder().path == tmp_path / "data" / "demo"
    monkeypatch.setenv("APIFONICA_NB_DEMO_DIR", str(tmp_path / "mine"))
    assert demo_folder().path == tmp_path / "mine"
