#!/usr/bin/env bash
# Download (set-up time, a package index is reachable) the wheels of offline-bundle/host-tools.txt,
# at the versions requirements.lock pins, into the folder given: `make install` runs it into
# var/cache/wheelhouse-host. Writes requirements.txt there (the pins) beside the wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: host-wheels.sh OUT_DIR}
mkdir -p "$out"
: > "$out/requirements.txt.new"
while read -r name; do
  pattern="^$(echo "$name" | sed -e 's/[-_.]/[-_.]/g')=="
  grep -i -E "$pattern" requirements.lock >> "$out/requirements.txt.new" || { echo "$name is not pinned in requirements.lock" >&2; exit 1; }
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' offline-bundle/host-tools.txt | grep -v '^$')
.venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --dest "$out" -r "$out/requirements.txt.new"
mv "$out/requirements.txt.new" "$out/requirements.txt"
