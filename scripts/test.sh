#!/usr/bin/env bash
# Lint, type-check, then run the tests inside a loopback-only network namespace (the air gap),
# where the machine allows it (root with unshare); otherwise on the normal network, with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

$BIN/ruff check suite tests benchmarks
$BIN/ruff format --check suite tests benchmarks
$BIN/mypy

if unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$0" -m pytest "$@"' "$BIN/python" "$@"
else
  echo "warning: cannot create a network namespace here; tests run without the air gap" >&2
  exec "$BIN/python" -m pytest "$@"
fi
