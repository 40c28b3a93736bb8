#!/usr/bin/env bash
# Build KenLM's training tools (`lmplz`, `build_binary`) from the kenlm sdist on PyPI.
#
# The `kenlm` wheel only queries models; its sdist carries the full KenLM C++ source, so we
# build the two estimation tools from it instead of fetching anything outside the package
# registries. Idempotent: does nothing when both binaries already exist.
#
# Usage: scripts/build_kenlm.sh [OUT_DIR]      (default: <repo>/.cache/kenlm-bin)
# Env:   PYTHON (default <repo>/.venv/bin/python, else python3), SKIP_APT=1 to skip apt-get.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-$REPO_ROOT/.cache/kenlm-bin}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

if [[ -x "$OUT_DIR/lmplz" && -x "$OUT_DIR/build_binary" ]]; then
    echo "build_kenlm: lmplz and build_binary already in $OUT_DIR"
    exit 0
fi

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

APT_PACKAGES=(libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
              zlib1g-dev libbz2-dev liblzma-dev cmake g++ make)
if [[ "${SKIP_APT:-0}" != "1" ]]; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        SUDO=""
        [[ "$(id -u)" != "0" ]] && SUDO="sudo"
        echo "build_kenlm: installing ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
    fi
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --no-binary kenlm: the source distribution; --no-build-isolation: do not build kenlm's own
# build requirements (cmake, ...) from source just to read its metadata.
"$PYTHON" -m pip download --quiet --no-deps --no-binary kenlm --no-build-isolation kenlm -d "$WORK"
SDIST="$(ls "$WORK"/kenlm-*.tar.gz | head -n 1)"
tar -xzf "$SDIST" -C "$WORK"
SRC="$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'kenlm-*' | head -n 1)"

JOBS="${KENLM_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 >"$WORK/cmake.log" 2>&1 \
    || { cat "$WORK/cmake.log"; exit 1; }
cmake --build "$WORK/build" --target lmplz build_binary -j "$JOBS" >"$WORK/make.log" 2>&1 \
    || { tail -n 50 "$WORK/make.log"; exit 1; }

install -m 0755 "$WORK/build/bin/lmplz" "$WORK/build/bin/build_binary" "$OUT_DIR/"
echo "build_kenlm: built $(basename "$SDIST") -> $OUT_DIR/{lmplz,build_binary}"
