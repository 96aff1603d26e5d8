#!/usr/bin/env bash
# Lint, type-check, then run the tests inside a loopback-only network namespace (the air gap),
# where the machine allows it (root with unshare); otherwise on the normal network, with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# Everything the tests need was installed by `make install` (scripts/install-system-packages.sh).
$BIN/ruff check suite tests benchmarks
$BIN/ruff format --check suite tests benchmarks
$BIN/mypy

# Two pytest processes: everything else, then the tests marked "isolated" (several vLLM engines of
# their own) once the first process and its engines are gone.
run_pytest() {
  if unshare -n true 2>/dev/null; then
    unshare -n bash -c 'ip link set lo up && exec "$0" -m pytest "$@"' "$BIN/python" "$@"
  else
    echo "warning: cannot create a network namespace here; tests run without the air gap" >&2
    "$BIN/python" -m pytest "$@"
  fi
}

status=0
for selection in "not isolated" "isolated"; do
  rc=0
  run_pytest -m "$selection" "$@" || rc=$?
  # 5: this selection holds none of the tests asked for (e.g. `scripts/test.sh tests/auth`).
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then status=$rc; fi
done
exit "$status"
