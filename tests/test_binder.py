"""Binder would build this repository, and committed notebooks show their charts without a kernel.

repo2docker, the tool mybinder.org builds images with, is the judge of what Binder does: its
renderer prints the Dockerfile it would build (no Docker needed). The pins Binder installs must
agree with pyproject.toml, and every plotly figure in a committed notebook must reach
nbconvert's HTML (what GitHub and nbviewer show) as an image.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
REQUIRES_PYTHON = SpecifierSet(PYPROJECT["project"]["requires-python"])
#: Needed to re-execute notebooks for commit or to test, never to run them live.
DEV_ONLY = {"kaleido", "choreographer", "jupyter-repo2docker", "nbval", "pytest"}


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` (tools/ is not a package: it is not shipped)."""
    spec = importlib.util.spec_from_file_location(f"tools_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute_notebooks = load_tool("execute_notebooks")


def binder_pins() -> dict[str, Requirement]:
    """Return binder/requirements.txt as {canonical name: requirement}."""
    pins = {}
    for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = req
    return pins


def pyproject_requirements() -> dict[str, list[Requirement]]:
    """Return every requirement pyproject.toml names (runtime and extras), by canonical name."""
    found: dict[str, list[Requirement]] = {}
    groups = [PYPROJECT["project"]["dependencies"]]
    groups += PYPROJECT["project"].get("optional-dependencies", {}).values()
    for group in groups:
        for text in group:
            req = Requirement(text)
            found.setdefault(canonicalize_name(req.name), []).append(req)
    return found


def runtime_python() -> Version:
    """Return the Python version binder/runtime.txt asks for (``python-X.Y``)."""
    text = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", text)
    assert match, f"binder/runtime.txt should read python-X.Y, not {text!r}"
    return Version(match[1])


# -- what Binder installs --------------------------------------------------------------------


def test_binder_runtime_satisfies_requires_python() -> None:
    assert runtime_python() in REQUIRES_PYTHON


def test_binder_pins_are_exact_and_agree_with_pyproject() -> None:
    pins = binder_pins()
    wanted = pyproject_requirements()
    problems = []
    for name, pin in pins.items():
        specs = list(pin.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            problems.append(f"{pin}: pin one exact version (==) for reproducible launches")
            continue
        version = specs[0].version
        problems += [
            f"{pin} does not satisfy pyproject's {req}"
            for req in wanted.get(name, [])
            if not req.specifier.contains(version, prereleases=True)
        ]
    assert problems == [], "\n".join(problems)


def test_binder_pins_every_runtime_dependency() -> None:
    """postBuild installs the package with --no-deps, so requirements.txt must hold them all."""
    pins = binder_pins()
    runtime = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    missing = [str(req) for req in runtime if canonicalize_name(req.name) not in pins]
    assert missing == [], f"add to binder/requirements.txt: {missing}"
    assert "ipykernel" in pins, "the notebooks need a kernel"


def test_live_runs_need_no_dev_tools() -> None:
    """kaleido, Chromium and repo2docker are for making commits and testing, not for Binder."""
    runtime = {canonicalize_name(Requirement(t).name) for t in PYPROJECT["project"]["dependencies"]}
    assert not (set(binder_pins()) | runtime) & DEV_ONLY
    extras = {
        group: {canonicalize_name(Requirement(t).name) for t in names}
        for group, names in PYPROJECT["project"]["optional-dependencies"].items()
    }
    assert "kaleido" in extras["dev"]
    assert "jupyter-repo2docker" in extras["test"]


def test_post_build_installs_this_checkout_and_start_keeps_the_sandbox_default() -> None:
    post_build = (BINDER / "postBuild").read_text(encoding="utf-8")
    assert re.search(r"pip install .*-e \.", post_build)
    start = (BINDER / "start").read_text(encoding="utf-8")
    assert 'exec "$@"' in start
    assert "APIFONICA_AUTH_TOKEN" not in start.replace("# ", "")  # no credential is set there
    for script in ("postBuild", "start"):
        assert (BINDER / script).stat().st_mode & 0o111, f"binder/{script} must be executable"


@pytest.mark.slow
def test_repo2docker_would_build_a_python_that_fits() -> None:
    pytest.importorskip(
        "repo2docker", reason='repo2docker is in the test extra: pip install -e ".[test]"'
    )
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--no-run", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Python version unspecified" not in output, "repo2docker fell back to its default"
    picked = re.findall(r"Building conda environment for python=(\d+\.\d+)", output)
    assert picked, output[:3000]
    assert Version(picked[0]) in REQUIRES_PYTHON
    assert Version(picked[0]) == runtime_python()

    dockerfile = output[output.index("FROM ") :]
    install = re.search(r'RUN \S*pip install .*-r "?binder/requirements\.txt"?', dockerfile)
    post_build = re.search(r"^RUN \./binder/postBuild$", dockerfile, re.MULTILINE)
    assert install, "the Dockerfile does not install binder/requirements.txt"
    assert post_build, "the Dockerfile does not run binder/postBuild"
    assert install.start() < post_build.start()
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile


# -- charts without a kernel -----------------------------------------------------------------


def figure_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the code cells with an output carrying a plotly figure."""
    return [
        cell
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        and any(execute_notebooks.PLOTLY_MIME in o.get("data", {}) for o in cell["outputs"])
    ]


def test_the_committed_notebooks_have_figures() -> None:
    """So that the HTML test below checks something."""
    notebooks = execute_notebooks.committed_notebooks()
    assert notebooks
    assert sum(len(figure_cells(json.loads(p.read_text()))) for p in notebooks) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("path", execute_notebooks.committed_notebooks(), ids=lambda p: p.stem)
def test_nbconvert_html_shows_every_figure_as_an_image(
    path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    bs4 = pytest.importorskip("bs4")
    from nbconvert import HTMLExporter

    nb = json.loads(path.read_text(encoding="utf-8"))
    # recwarn: nbconvert warns of an output it cannot draw; the check below says which cell.
    html, _ = HTMLExporter().from_filename(str(path))
    soup = bs4.BeautifulSoup(html, "html.parser")
    missing = []
    for cell in figure_cells(nb):
        div = soup.find(id=f"cell-id={cell['id']}")
        assert div is not None, f"cell {cell['id']} not found in the HTML"
        images = [
            img
            for img in div.select(".jp-OutputArea img")
            if str(img.get("src", "")).startswith(("data:image/png", "data:image/svg"))
        ]
        if not images and not div.select(".jp-OutputArea svg"):
            missing.append("".join(cell["source"]).splitlines()[-1])
    assert missing == [], f"{path.name}: figures with no image, run tools/execute_notebooks.py"


# -- the re-execution tool, on synthetic notebooks -------------------------------------------

FIGURE = {"data": [{"type": "bar", "x": [1], "y": [2]}], "layout": {}}


def synthetic(view_ids: list[str], state: dict[str, Any]) -> dict[str, Any]:
    """Return a notebook with a figure output, widget views and saved widget state."""
    outputs = [
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "Figure"}},
    ]
    outputs[0]["data"][execute_notebooks.PLOTLY_MIME] = FIGURE
    outputs += [
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {execute_notebooks.WIDGET_VIEW_MIME: {"model_id": m, "version_major": 2}},
        }
        for m in view_ids
    ]
    cell = {"cell_type": "code", "id": "c1", "metadata": {}, "source": "", "outputs": outputs}
    widgets = {execute_notebooks.WIDGET_STATE_MIME: {"state": state, "version_major": 2}}
    return {"cells": [cell], "metadata": {"widgets": widgets}, "nbformat": 4, "nbformat_minor": 5}


def test_the_tool_adds_a_png_beside_each_figure_and_keeps_the_figure() -> None:
    nb = synthetic([], {})
    seen = []
    count = execute_notebooks.add_static_images(nb, lambda fig: seen.append(fig) or b"\x89PNG")
    data = nb["cells"][0]["outputs"][0]["data"]
    assert count == 1 and seen == [FIGURE]
    assert data["image/png"] == "iVBORw=="  # base64 of the bytes, as nbformat stores images
    assert data[execute_notebooks.PLOTLY_MIME] == FIGURE  # live frontends stay interactive


def test_the_tool_names_widget_models_the_same_on_every_run() -> None:
    def run(ids: list[str]) -> dict[str, Any]:
        box, label, layout = ids
        state = {
            box: {"state": {"children": [f"IPY_MODEL_{label}"], "layout": f"IPY_MODEL_{layout}"}},
            label: {"state": {"value": "done: 500 calls"}},
            layout: {"state": {}},
        }
        return execute_notebooks.stable_widget_ids(synthetic([box], state), salt="x.ipynb")

    first = run(["a" * 32, "b" * 32, "c" * 32])
    second = run(["f" * 31 + "1", "0" * 31 + "2", "9" * 32])  # what another kernel might pick
    assert first == second
    state = first["metadata"]["widgets"][execute_notebooks.WIDGET_STATE_MIME]["state"]
    box = first["cells"][0]["outputs"][1]["data"][execute_notebooks.WIDGET_VIEW_MIME]["model_id"]
    assert set(state) >= {box} and len(state) == 3
    children = state[box]["state"]["children"]
    assert state[children[0].removeprefix("IPY_MODEL_")]["state"]["value"] == "done: 500 calls"


@pytest.mark.slow
def test_the_tool_draws_a_figure_with_kaleido_and_debians_chromium() -> None:
    """The commit-time toolchain works here: what CI installs is enough to redraw the images."""
    pytest.importorskip("kaleido", reason='kaleido is in the dev extra: pip install -e ".[dev]"')
    chromium = execute_notebooks.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium: apt-get install -y chromium")
    with execute_notebooks.png_renderer(chromium) as render:
        png = render(FIGURE)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (700, 500)  # plotly's default size, as the figure sets none


def test_the_tool_runs_kernels_without_credentials(tmp_path: Path) -> None:
    env = execute_notebooks.kernel_environment(
        tmp_path,
        base={"APIFONICA_AUTH_TOKEN": "t", "APIFONICA_ACCOUNT_SID": "acc1", "PATH": "/bin"},
    )
    assert not [k for k in env if k.startswith("APIFONICA_") and k != "APIFONICA_NB_CACHE_DIR"]
    assert env["APIFONICA_NB_CACHE_DIR"] == str(tmp_path)
    assert env["PYTHONPATH"].split(":")[0] == str(ROOT)
