#!/usr/bin/env bash
# The standard clients the OGC API tests run against a test server: GDAL's OAPIF driver
# (Debian's gdal-bin, installed by deps.sh) and OWSLib from PyPI, in a venv under the ignored
# .cuntu folder. Installs only what is missing; prints the venv's python on the last line.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v ogrinfo >/dev/null 2>&1 || scripts/deps.sh >&2
bin=$(scripts/py-tool.sh ogc-venv OWSLib 0.35.0 | tail -n 1)
echo "$bin/python"
