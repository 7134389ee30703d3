#!/usr/bin/env bash
# Browser end-to-end tests against the real thing: a throwaway private PostGIS cluster, the
# demo township loaded into it, `cuntu serve` on a free port, Debian's Chromium driven by
# playwright-core. Everything it starts is stopped and deleted on the way out.
set -euo pipefail

bin=$(realpath "${1:-target/debug/cuntu}")
cd "$(dirname "$0")/.."

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

home=$(mktemp -d /tmp/cuntu-e2e-XXXXXX)
chmod 755 "$home"
export CUNTU_HOME="$home" CUNTU_PG_PORT="$(free_port)"
unset DATABASE_URL
http_port=$(free_port)
server_pid=""

cleanup() {
  status=$?
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ $status -ne 0 ] && [ -f "$home/server.log" ]; then echo "--- server log ---"; tail -n 50 "$home/server.log"; fi
  "$bin" db reset >/dev/null 2>&1 || true
  rm -rf "$home"
  exit $status
}
trap cleanup EXIT

"$bin" demo load --data data
"$bin" serve --addr "127.0.0.1:$http_port" --web-dir web/dist >"$home/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then echo "cuntu serve exited"; exit 1; fi
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null

if [ ! -f tests/e2e/node_modules/.package-lock.json ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund)
fi
cd tests/e2e
CUNTU_URL="http://127.0.0.1:$http_port" node --test
