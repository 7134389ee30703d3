#!/usr/bin/env bash
# One pinned PyPI package in a venv of its own under the ignored .cuntu folder, for the scripts
# that run standard Python clients against a test server. Installs only what is missing;
# prints the venv's bin folder on the last line.
# Usage: scripts/py-tool.sh VENV DISTRIBUTION VERSION
set -euo pipefail

cd "$(dirname "$0")/.."
venv=".cuntu/$1"
distribution=$2
version=$3

if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$distribution') != '$version')" 2>/dev/null; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-venv >&2
  fi
  mkdir -p .cuntu
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "$distribution==$version" >&2
fi
echo "$PWD/$venv/bin"
