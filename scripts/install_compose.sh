#!/usr/bin/env bash
# Install Debian's `docker-compose` when neither `docker compose` nor `docker-compose` runs here:
# tests/test_compose.py checks docker/compose.yaml with `config` (no Docker daemon needed).
# Quiet and idempotent; exits 1 when it cannot install it.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
    exit 0
fi
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_compose: no apt-get here; install docker-compose yourself (tests/test_compose.py skips without it)" >&2
    exit 1
fi
SUDO=""
[[ "$(id -u)" != "0" ]] && SUDO="sudo"
echo "install_compose: installing docker-compose (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-compose >/dev/null
command -v docker-compose >/dev/null 2>&1
