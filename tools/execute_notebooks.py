"""Re-execute the example notebooks for commit, with a static image beside every figure.

    python tools/execute_notebooks.py                 # every notebooks/*.ipynb, in place
    python tools/execute_notebooks.py notebooks/02-cost-analysis.ipynb

Each notebook runs top to bottom in a fresh kernel, in its own folder as nbval and Binder run
it, against the seeded frozen-clock sandbox that ``ap.connect()`` starts when no credentials are
set: every ``APIFONICA_*`` variable is removed from the kernel's environment and the call store
is a new temporary folder, so the committed outputs are the ones nbval compares. The kernel
imports the package from this checkout (its root goes first on ``PYTHONPATH``).

Then every output carrying plotly's figure JSON (``application/vnd.plotly.v1+json``) also gets an
``image/png`` drawn from that same JSON by kaleido with Debian's Chromium, in the same output
bundle. JupyterLab, Binder and Voila keep drawing the interactive figure from the JSON; GitHub,
nbviewer and nbconvert's HTML, which do not draw that mimetype, show the picture. Only this
script needs kaleido and Chromium: ``pip install -e ".[dev]"`` and ``apt-get install -y
chromium`` (``BROWSER_PATH`` names another Chromium).

Exits non-zero when a cell fails (that notebook is left as it was, the others are still run),
when a figure cannot be drawn, or when a notebook ends up over the size limit. Prints each
notebook's size. Running it twice gives the same notebooks, up to widget model ids.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
IMAGE_MIME = "image/png"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
_HEX_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
#: GitHub stops rendering large notebooks, and a reviewer reads the diff: keep each one small.
MAX_NOTEBOOK_BYTES = 2_000_000
#: Where Debian's chromium package puts the browser (the /usr/bin one is a wrapper script).
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CELL_TIMEOUT = 600


def committed_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """Return the notebooks under ``folder``, checkpoints excluded, in name order."""
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def figure_outputs(nb: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every code-cell output of ``nb`` whose bundle carries a plotly figure."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if PLOTLY_MIME in output.get("data", {}):
                yield output


def add_static_images(nb: Mapping[str, Any], render: Callable[[dict[str, Any]], bytes]) -> int:
    """Add an ``image/png`` of each plotly figure to its output bundle; return how many.

    ``render`` turns the figure JSON into PNG bytes. Outputs stay where they are, with the
    plotly JSON first, so live frontends keep the interactive figure.
    """
    count = 0
    for output in figure_outputs(nb):
        png = render(output["data"][PLOTLY_MIME])
        output["data"][IMAGE_MIME] = base64.b64encode(png).decode("ascii")
        count += 1
    return count


def stable_widget_ids(nb: dict[str, Any], salt: str) -> dict[str, Any]:
    """Return ``nb`` with its widget model ids renamed in a fixed order; the rest unchanged.

    Kernels name widget models with random ids, so every re-run would rewrite the whole saved
    widget state (hundreds of kilobytes in the explorer notebook). Models are numbered in the
    order they are reached from the cells' outputs, depth first through the references in
    their state, and each number becomes an id derived from ``salt`` and it.
    """
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    roots = [
        output["data"][WIDGET_VIEW_MIME]["model_id"]
        for cell in nb.get("cells", [])
        for output in cell.get("outputs", [])
        if WIDGET_VIEW_MIME in output.get("data", {})
    ]
    order: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(roots))
    while stack:
        model_id = stack.pop()
        if model_id in seen:
            continue
        seen.add(model_id)
        order.append(model_id)
        if model_id in state:
            refs = [m for m in _HEX_ID.findall(json.dumps(state[model_id])) if m in state]
            stack.extend(reversed(refs))

    def content(model_id: str) -> str:
        return _HEX_ID.sub("", json.dumps(state[model_id], sort_keys=True))

    order += sorted((m for m in state if m not in seen), key=content)  # unreferenced models
    renamed = {
        old: hashlib.sha256(f"{salt}:{n}".encode()).hexdigest()[:32] for n, old in enumerate(order)
    }
    text = _HEX_ID.sub(lambda m: renamed.get(m[0], m[0]), json.dumps(nb))
    result: dict[str, Any] = json.loads(text)
    return result


def kernel_environment(cache_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the kernel's environment: no Apifonica settings but a fresh call store, and this
    checkout's package first on the import path."""
    env = dict(os.environ if base is None else base)
    for name in [k for k in env if k.startswith("APIFONICA_")]:
        del env[name]
    env["APIFONICA_NB_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def find_chromium(env: Mapping[str, str] | None = None) -> str | None:
    """Return the Chromium kaleido should drive: ``BROWSER_PATH``, else Debian's, else None."""
    env = os.environ if env is None else env
    if env.get("BROWSER_PATH"):
        return env["BROWSER_PATH"]
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def png_renderer(chromium: str) -> Iterator[Callable[[dict[str, Any]], bytes]]:
    """Start one kaleido browser for every figure; yield the function that draws one."""
    import kaleido

    # No MathJax: our figures have no LaTeX, and kaleido would fetch it from a CDN.
    kaleido.start_sync_server(path=chromium, mathjax=False, silence_warnings=True)
    try:
        yield render_png
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


def execute(path: Path, env: Mapping[str, str]) -> Any:
    """Run the notebook at ``path`` in a fresh kernel and return it with its new outputs."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # Saved widget state belongs to the outputs being replaced; nbclient stores the new state.
    nb.metadata.pop("widgets", None)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,  # per-cell timestamps would make every re-run a diff
        store_widget_state=True,
    )
    client.execute(env=dict(env))
    return nb


def render_png(figure: dict[str, Any]) -> bytes:
    """Draw a plotly figure JSON as PNG with the running kaleido server, at its layout's size
    (plotly's default size where the figure sets none, as ``plotly.io.to_image`` does)."""
    import kaleido
    import plotly.io as pio

    layout = figure.get("layout", {})
    template = layout.get("template", {}).get("layout", {})
    opts = {
        "format": "png",
        "width": layout.get("width") or template.get("width") or pio.defaults.default_width,
        "height": layout.get("height") or template.get("height") or pio.defaults.default_height,
        "scale": 1,
    }
    return bytes(kaleido.calc_fig_sync(figure, opts=opts))


def write(nb: Any, path: Path) -> int:
    """Write ``nb`` to ``path`` as the notebooks are committed; return its size in bytes."""
    import nbformat

    node = nbformat.from_dict(stable_widget_ids(nb, salt=path.name))
    nbformat.validate(node)
    nbformat.write(node, path)
    return path.stat().st_size


def main(argv: Sequence[str] | None = None) -> int:
    """Re-execute the given notebooks (default: all of notebooks/) in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or committed_notebooks()
    if not paths:
        print("no notebooks to run", file=sys.stderr)
        return 1

    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if importlib.util.find_spec("kaleido") is None:
        print('kaleido is missing: pip install -e ".[dev]"', file=sys.stderr)
        return 1
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium: apt-get install -y chromium, or set BROWSER_PATH", file=sys.stderr)
        return 1
    failed = 0
    with png_renderer(chromium) as render:
        for path in paths:
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            with tempfile.TemporaryDirectory(prefix="apifonica-nb-cache-") as cache_dir:
                try:
                    nb = execute(path, kernel_environment(Path(cache_dir)))
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                    print(f"{name}: a cell failed, notebook left unchanged\n{exc}", file=sys.stderr)
                    failed += 1
                    continue
            try:
                images = add_static_images(nb, render)
            except Exception as exc:  # kaleido and Chromium raise many kinds; report any
                print(f"{name}: a figure could not be drawn: {exc!r}", file=sys.stderr)
                failed += 1
                continue
            size = write(nb, path)
            verdict = "" if size <= MAX_NOTEBOOK_BYTES else f"  OVER {MAX_NOTEBOOK_BYTES:,} bytes"
            failed += bool(verdict)
            print(f"{name}: {size:,} bytes, {images} figure(s) with a PNG{verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
