#!/usr/bin/env bash
# The web pages' vendored libraries (marked, DOMPurify; axe-core for the accessibility tests), installed
# with `npm ci` from suite/web/assets/package-lock.json, and their browser builds copied into
# suite/web/static/vendor so they ship inside the Python package. Nothing is fetched at run time.
# Run by `make install` (set-up), never by the test script.
set -euo pipefail
cd "$(dirname "$0")/../suite/web/assets"
npm ci --no-audit --no-fund --silent
vendor=../static/vendor
mkdir -p "$vendor"
cp node_modules/marked/lib/marked.umd.js "$vendor/marked.umd.js"
cp node_modules/marked/LICENSE "$vendor/marked.LICENSE"
cp node_modules/dompurify/dist/purify.min.js "$vendor/purify.min.js"
cp node_modules/dompurify/LICENSE "$vendor/purify.LICENSE"
