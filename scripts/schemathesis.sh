#!/usr/bin/env bash
# Schemathesis (PyPI) for `make fuzz-api`, in a venv under the ignored .cuntu folder.
# Installs only what is missing; prints the schemathesis command on the last line.
set -euo pipefail

cd "$(dirname "$0")/.."
bin=$(scripts/py-tool.sh schemathesis-venv schemathesis 4.32.5 | tail -n 1)
echo "$bin/schemathesis"
