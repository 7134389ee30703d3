#!/usr/bin/env bash
# The standard clients the OGC API tests run against a test server: GDAL's OAPIF driver
# (Debian's gdal-bin, installed by deps.sh) and OWSLib from PyPI, in a venv under the ignored
# .cuntu folder. Installs only what is missing; prints the venv's python on the last line.
set -euo pipefail

cd "$(dirname "$0")/.."
venv=.cuntu/ogc-venv
owslib_version=0.35.0

command -v ogrinfo >/dev/null 2>&1 || scripts/deps.sh >&2
if ! "$venv/bin/python" -c "import owslib, sys; sys.exit(owslib.__version__ != '$owslib_version')" 2>/dev/null; then
  if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-venv >&2
  fi
  mkdir -p .cuntu
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "OWSLib==$owslib_version" >&2
fi
echo "$PWD/$venv/bin/python"
