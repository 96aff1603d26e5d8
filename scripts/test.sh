#!/usr/bin/env bash
# Lint, type-check, then run the tests inside a loopback-only network namespace (the air gap),
# where the machine allows it (root with unshare); otherwise on the normal network, with a warning.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

# System tools the tests drive as real peers: rsyslog (the audit trail's SIEM forwarding target),
# ssh-keygen (checks bundle signatures with the stock tool). Installed from Debian where missing.
missing=()
command -v rsyslogd >/dev/null || missing+=(rsyslog)
# rsyslog's OpenSSL netstream driver: the TLS (RFC 5425) input of the SIEM tests.
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] || missing+=(rsyslog-openssl)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q && apt-get install -y -q "${missing[@]}"; } >/dev/null
fi

$BIN/ruff check suite tests benchmarks
$BIN/ruff format --check suite tests benchmarks
$BIN/mypy

if unshare -n true 2>/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && exec "$0" -m pytest "$@"' "$BIN/python" "$@"
else
  echo "warning: cannot create a network namespace here; tests run without the air gap" >&2
  exec "$BIN/python" -m pytest "$@"
fi
