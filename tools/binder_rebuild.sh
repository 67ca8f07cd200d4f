#!/usr/bin/env bash
# Rebuild the Binder environment as far as this machine can, then run the example notebooks in
# it: what mybinder.org does with binder/, minus Docker. CI runs it; so can you, from anywhere:
#   bash tools/binder_rebuild.sh
# A fresh venv of the Python that binder/runtime.txt names gets binder/requirements.txt alone,
# binder/postBuild installs the package from this checkout, and the notebooks run under nbval
# through binder/start, with a fresh HOME and no Apifonica settings, as a Binder user has them.
# Prints the seconds it took. Needs nothing installed but that Python (pyenv's will do).
set -euo pipefail
cd "$(dirname "$0")/.."

binder_python() {
  local version
  version="$(sed -n 's/^python-\([0-9.]*\)$/\1/p' binder/runtime.txt)"
  for candidate in "python${version}" "$(pyenv root 2>/dev/null)/versions/${version}"*/bin/python"${version}"; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  echo "binder: no Python ${version} here, rebuilding with $(python --version) instead" >&2
  echo python
}

binder_started=$(date +%s)
binder_tmp="$(mktemp -d)"
finish() {
  local status=$?
  rm -rf "$binder_tmp"
  local verdict="passed"
  [ "$status" -eq 0 ] || verdict="FAILED (exit $status)"
  echo "binder rebuild ${verdict} in $(($(date +%s) - binder_started)) s"
}
trap finish EXIT
py="$(binder_python)"
"$py" -m venv "$binder_tmp/venv"
venv_python="$binder_tmp/venv/bin/python"
echo "binder: $("$venv_python" --version) in a fresh venv"
"$venv_python" -m pip install -q --disable-pip-version-check -r binder/requirements.txt
env -u PYTHONPATH PATH="$binder_tmp/venv/bin:$PATH" binder/postBuild >/dev/null
# pytest and nbval are not in binder/requirements.txt (Binder runs no tests): they go in after
# postBuild, constrained by the pins so they cannot change the environment under test.
test_runners="$("$venv_python" -c '
import re, tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]
print(" ".join(r for r in extra if re.match(r"(pytest|nbval)(?![\w.-])", r)))
')"
# shellcheck disable=SC2086 # one word per requirement
"$venv_python" -m pip install -q --disable-pip-version-check -c binder/requirements.txt $test_runners
mkdir -p "$binder_tmp/home"
env -u PYTHONPATH -u APIFONICA_ACCOUNT_SID -u APIFONICA_AUTH_TOKEN -u APIFONICA_BASE_URL \
  HOME="$binder_tmp/home" PATH="$binder_tmp/venv/bin:$PATH" VIRTUAL_ENV="$binder_tmp/venv" \
  binder/start python -m pytest -q notebooks
