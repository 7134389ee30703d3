#!/usr/bin/env bash
# Schemathesis (PyPI) for `make fuzz-api`, in a venv under the ignored .cuntu folder.
# Installs only what is missing; prints the schemathesis command on the last line.
set -euo pipefail

cd "$(dirname "$0")/.."
venv=.cuntu/schemathesis-venv
version=4.32.5

if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$version')" 2>/dev/null; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-venv >&2
  fi
  mkdir -p .cuntu
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "schemathesis==$version" >&2
fi
echo "$PWD/$venv/bin/schemathesis"
