#!/usr/bin/env bash
# Install Debian's `chromium` when missing: tests/test_report.py screenshots report.html with it, headless.
# Quiet and idempotent (nothing happens when `chromium` is on PATH); exits 1 when it cannot install it.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium: no apt-get here; install Chromium yourself (tests/test_report.py skips without it)" >&2
    exit 1
fi
SUDO=""
[[ "$(id -u)" != "0" ]] && SUDO="sudo"
echo "install_chromium: installing chromium (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1
