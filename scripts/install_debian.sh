#!/usr/bin/env bash
# install_debian.sh PACKAGE COMMAND FOR: install Debian's PACKAGE with apt-get unless COMMAND is on PATH.
# For the optional tools some tests use (they skip without them), so a machine without apt-get still sets up.
# Quiet and idempotent; exits 1 when it cannot install the package.
set -euo pipefail

package="$1" command="$2" purpose="$3"
if command -v "$command" >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_debian: no apt-get here; install $package yourself ($purpose skips without it)" >&2
    exit 1
fi
SUDO=""
[[ "$(id -u)" != "0" ]] && SUDO="sudo"
echo "install_debian: installing $package (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null
command -v "$command" >/dev/null 2>&1
