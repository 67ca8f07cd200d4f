"""The call explorer in a real JupyterLab, driven by Playwright on Debian's Chromium.

A sandbox runs in a child process; JupyterLab runs on loopback with a random token, on a
notebook written into a temporary folder; the sandbox credentials reach the kernel through
the environment only. The browser runs the notebook, clicks Fetch, waits for the table and a
plotly chart, checks what rendered, downloads the CSV export, and (with
``APIFONICA_NB_SCREENSHOTS=1``) saves ``docs/explorer.png``. Kernels and the server are stopped
whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CALLS = 500
NOTEBOOK_CELLS = (
    "import apifonica_nb as ap\n"
    "from apifonica_nb.widgets import CallExplorer\n"
    "\n"
    "explorer = CallExplorer(client=ap.Client.from_env())  # the sandbox, from APIFONICA_*\n"
    "explorer",
    # A second explorer whose token is typed into the form, as a person would.
    "import os\n"
    "\n"
    'os.environ.pop("APIFONICA_AUTH_TOKEN")\n'
    "typed = CallExplorer()  # account SID and base URL prefilled from APIFONICA_*\n"
    "typed",
)
LAB_START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path) -> None:
    """Write the notebook (nbformat 4) that shows the explorers."""
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(NOTEBOOK_CELLS)
        ],
    }
    path.write_text(json.dumps(notebook, indent=1))


def lab_settings(config_dir: Path) -> None:
    """Turn off JupyterLab's news and update toasts (they would cover the page), and save
    widget state with the notebook, as a user who wants it would."""
    settings = config_dir / "lab" / "user-settings"
    for plugin, values in (
        (
            "@jupyterlab/apputils-extension/notification",
            {"fetchNews": "false", "checkForUpdates": False},
        ),
        ("@jupyter-widgets/jupyterlab-manager/plugin", {"saveState": True}),
    ):
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@dataclass
class Lab:
    """A running JupyterLab: where it is, its token and its folder."""

    url: str
    token: str
    folder: Path
    proc: subprocess.Popen[bytes]
    log: Path
    #: The sandbox's auth token, for typing into the form.
    api_token: str
    #: The sandbox the kernel reads (its data, for choosing a call to look for).
    sandbox: Any

    def api(self, method: str, path: str) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A sandbox in a child process and JupyterLab on loopback, both stopped at the end."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "explorer.ipynb")
    config = tmp_path / "jupyter-config"
    lab_settings(config)
    # Without the fraud night, so the account holds exactly CALLS calls.
    sandbox = ap.sandbox.start(calls=CALLS, seed=7, now=DEMO_NOW, process=True, fraud_burst=False)
    token = secrets.token_hex(24)
    port = free_port()
    env = {
        **os.environ,
        "APIFONICA_ACCOUNT_SID": sandbox.account_sid,
        "APIFONICA_AUTH_TOKEN": sandbox.auth_token,
        "APIFONICA_BASE_URL": sandbox.url,
        # Isolate config (settings, workspaces) and runtime (connection files); keep the data
        # path, which holds the widget, anywidget and plotly lab extensions.
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "APIFONICA_NB_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--ServerApp.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={folder}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be stopped as one
        )
    server = Lab(f"http://127.0.0.1:{port}", token, folder, proc, log, sandbox.auth_token, sandbox)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                if server.api("GET", "/api/status").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer in {LAB_START_TIMEOUT:.0f} s")
            time.sleep(0.25)
        yield server
    finally:
        stop_lab(server)
        sandbox.stop()


def stop_lab(server: Lab) -> None:
    """Shut the kernels down through the REST API, then end the server's process group."""
    if server.proc.poll() is None:
        try:
            for kernel in server.api("GET", "/api/kernels").json():
                server.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (requests.RequestException, ValueError):
            pass  # the server is going down anyway; the signals below end it
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if server.proc.poll() is not None:
            break
        try:
            os.killpg(server.proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue


def test_explorer_fetches_and_renders_in_jupyterlab(chromium: Any, lab: Lab) -> None:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{lab.url}/lab/tree/explorer.ipynb?token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        # The kernel is up and the notebook has the focus (else Run All Cells is disabled).
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
        # Run > Run All Cells, through the menu as a person would.
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

        explorer = page.locator(".apifonica-explorer").first
        explorer.wait_for(timeout=60_000)  # kernel start + imports
        explorer.locator("button", has_text="Fetch").click()

        table = explorer.locator(".dt-container table")
        table.locator("tbody tr").first.wait_for()
        # Charts below the fold may be drawn late (JupyterLab renders lazily): bring them in.
        explorer.locator(".widget-tab").nth(1).scroll_into_view_if_needed()
        explorer.locator(".js-plotly-plot .main-svg >> visible=true").first.wait_for()

        summary = explorer.locator(".apifonica-summary").inner_text()
        assert f"{CALLS} calls" in summary
        assert "EUR" in summary and "answer rate" in summary and "0 failures" in summary
        assert table.locator("tbody tr").count() == 10  # one page of the interactive table
        header = table.locator("thead").inner_text()
        assert "call_sid" in header and "cost_eur (EUR)" in header
        assert explorer.get_by_text(f"done: {CALLS} calls").count() == 1
        # The connection section, collapsed, says which account it is connected to.
        assert "Connection ✓ acc" in explorer.inner_text()
        # One tab per chart builder; the first chart is drawn with its title.
        assert explorer.locator(".lm-TabBar-tab").count() >= 6 + 2
        visible_plot = explorer.locator(".js-plotly-plot >> visible=true")
        assert "by status" in visible_plot.first.inner_text()
        # Another tab shows its own chart.
        explorer.locator(".lm-TabBar-tab", has_text="Status timeline").click()
        page.wait_for_function(
            """() => [...document.querySelectorAll('.apifonica-explorer .js-plotly-plot')]
                .some(p => p.offsetParent !== null
                      && /Call status timeline|Calls in progress per/.test(p.textContent))"""
        )
        explorer.locator(".lm-TabBar-tab", has_text="Calls by status").click()

        # Export the CSV and download it through the link, as a person would.
        explorer.locator("button", has_text="Export CSV").click()
        link = explorer.locator("a[download]").first
        link.wait_for()
        assert "/files/" in (link.get_attribute("href") or "")
        with page.expect_download() as download:
            link.click()
        saved = Path(download.value.path())
        frame = pd.read_csv(saved, dtype="str")
        assert len(frame) == CALLS
        assert "call_sid" in frame.columns
        (exported,) = lab.folder.glob("calls-*.csv")
        assert exported.read_bytes() == saved.read_bytes()

        if os.environ.get("APIFONICA_NB_SCREENSHOTS") == "1":
            save_screenshot(page)

        check_typed_token(page, lab)
    except Exception:
        page.screenshot(path=str(lab.folder.parent / "failure.png"))
        print("screenshot of the failure:", lab.folder.parent / "failure.png")
        print(lab.log_tail())
        raise
    finally:
        context.close()


def check_typed_token(page: Any, lab: Lab) -> None:
    """Type the token into the second explorer, fetch, save: the file never holds the token."""
    typed = page.locator(".apifonica-explorer").nth(1)
    field = typed.locator("input[type=password]")
    field.click()
    field.press_sequentially(lab.api_token, delay=5)
    field.press("Enter")
    typed.get_by_text("token set ✓").wait_for()
    assert field.input_value() == ""
    typed.locator("button", has_text="Fetch").click()
    typed.get_by_text(f"done: {CALLS} calls").wait_for()
    assert f"{CALLS} calls" in typed.locator(".apifonica-summary").inner_text()

    # Save with the widget state (saveState is on): the state is there, the token is not.
    page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    saved = lab.folder / "explorer.ipynb"
    deadline = time.monotonic() + 15
    while "widget-state" not in saved.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = saved.read_text()
    assert "application/vnd.jupyter.widget-state+json" in text
    assert "token set ✓" in text  # the form's state was saved
    assert lab.api_token not in text


def save_screenshot(page: Any) -> None:
    """Save docs/explorer.png: the form, the summary, the table and a chart, in 1280x900."""
    # Hide the file browser (click its tab in the left bar), then scroll the notebook so the
    # results fill the view.
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").first.click()
    fetch_row = page.locator(".apifonica-explorer button", has_text="Fetch").first.locator("..")
    fetch_row.evaluate("row => row.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)  # let plotly finish resizing to the wider notebook
    (ROOT / "docs").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "docs" / "explorer.png"))


def test_the_explorer_investigates_a_searched_call(chromium: Any, lab: Lab) -> None:
    """Fetch, search the table for a recorded call, select it: the detail pane shows its SID,
    its legs and an audio element playing from a blob: URL; nothing is fetched from a CDN."""
    calls = ap.fetch_history(client=lab.sandbox.client(), progress=False, cache=False)
    recorded = calls[calls["record_sid"].notna()]
    forwarded = recorded["parent_call_sid"].notna() & (
        recorded["parent_call_sid"] != recorded["call_sid"]
    )
    recorded = recorded[forwarded.fillna(False)].iloc[0]  # a leg: the family has several
    sid, record_sid = str(recorded["call_sid"]), str(recorded["record_sid"])
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    outside: list[str] = []  # every request the page makes off the lab's own origin
    page.on(
        "request",
        lambda r: None if r.url.startswith((lab.url, "data:", "blob:")) else outside.append(r.url),
    )
    try:
        page.goto(f"{lab.url}/lab/tree/explorer.ipynb?token={lab.token}")
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        explorer = page.locator(".apifonica-explorer").first
        explorer.wait_for(timeout=60_000)
        explorer.locator("button", has_text="Fetch").click()
        rows = explorer.locator(".dt-container table tbody tr")
        rows.first.wait_for()

        search = explorer.locator(".dt-container .dt-search input")
        search.fill(sid[:18])  # part of the SID, as a person pastes from a ticket
        page.wait_for_function(
            """sid => {
                const rows = document.querySelector('.apifonica-explorer')
                    .querySelectorAll('.dt-container table tbody tr');
                return rows.length === 1 && rows[0].textContent.includes(sid);
            }""",
            arg=sid,
        )
        rows.first.click()  # select it
        detail = explorer.locator(".apifonica-detail")
        detail.locator("h4", has_text=sid).wait_for()
        detail.locator(".apifonica-fields td", has_text=record_sid).wait_for()  # every field
        detail.get_by_text("The call was answered and has ended normally.").wait_for()
        audio = detail.locator(f'audio[data-record-sid="{record_sid}"]')
        audio.wait_for(state="attached")
        page.wait_for_function(
            "sid => document.querySelector(`audio[data-record-sid='${sid}']`)"
            "?.src.startsWith('blob:')",
            arg=record_sid,
        )
        detail.get_by_text("in the family").wait_for()  # the legs came in the background
        detail.locator(".js-plotly-plot .main-svg").first.wait_for()
        assert outside == [], f"requests off the lab's origin: {outside[:5]}"

        if os.environ.get("APIFONICA_NB_SCREENSHOTS") == "1":
            save_detail_screenshot(page)
    except Exception:
        page.screenshot(path=str(lab.folder.parent / "failure.png"))
        print("screenshot of the failure:", lab.folder.parent / "failure.png")
        print(lab.log_tail())
        raise
    finally:
        context.close()


def save_detail_screenshot(page: Any) -> None:
    """Save docs/explorer-detail.png: the searched table and the detail pane, ~1200x800."""
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").first.click()
    table = page.locator(".apifonica-explorer .dt-container").first
    table.evaluate("t => t.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)  # let plotly finish resizing to the wider notebook
    top = table.bounding_box()
    detail = page.locator(".apifonica-explorer .apifonica-detail").first.bounding_box()
    assert top is not None and detail is not None
    height = min(detail["y"] + detail["height"] - top["y"] + 8, 800)
    clip = {"x": max(top["x"] - 8, 0), "y": max(top["y"] - 8, 0), "width": 1200, "height": height}
    page.screenshot(path=str(ROOT / "docs" / "explorer-detail.png"), clip=clip)
