#!/usr/bin/env bash
# Debian packages the suite's tools and tests drive as real parts, one list per capability in
# scripts/system-packages.d/*.txt (one package a line, # comments). Run by `make install`, never by
# the test script: installing is set-up, not testing. Only missing packages are installed.
set -euo pipefail
cd "$(dirname "$0")"
mapfile -t wanted < <(cat system-packages.d/*.txt | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u)
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian packages: ${missing[*]}"
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
