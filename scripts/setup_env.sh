#!/usr/bin/env bash
# Creates .venv in the repository and installs the project into it, once.
# Sourced by scripts/run_demo.sh and scripts/run_tests.sh; safe to run again (it only
# does what is missing). A torch >= 2.6 that the calling python already has (a CUDA
# build, say) is kept: the venv then sees it through --system-site-packages.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-$(sha1sum "$ROOT/pyproject.toml" | cut -c1-12)"

ffmpeg_libs_present() {
    ldconfig -p 2>/dev/null | grep -q 'libavformat.so.59' && ldconfig -p | grep -q 'libavdevice.so.59'
}

install_ffmpeg_libs() {
    # torchcodec loads the system FFmpeg shared libraries (5.1 on Debian 12).
    if ffmpeg_libs_present; then return; fi
    if command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing the FFmpeg libraries torchcodec needs (apt-get)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            libavdevice59 libavfilter8 libavformat59 libavcodec59 libavutil57 libswscale6 libswresample4 \
            >/dev/null
    else
        echo "[setup] WARNING: no apt-get; install FFmpeg's shared libraries (4 to 7) yourself," \
             "e.g. 'brew install ffmpeg' or 'conda install ffmpeg', or video decoding through" \
             "torchcodec will fail (PyAV still works)." >&2
    fi
}

compiler_present() {
    command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1
}

install_compiler() {
    # torch.compile's default backend (inductor) compiles C++ kernels on the CPU: it needs a C++ compiler and,
    # for a Debian system Python, its headers (python3-dev).
    local packages=()
    compiler_present || packages+=(g++)
    "$PYTHON" -c 'import os, sys, sysconfig; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
        || packages+=(python3-dev)
    [ ${#packages[@]} -eq 0 ] && return
    if command -v apt-get >/dev/null 2>&1; then
        echo "[setup] installing ${packages[*]} for torch.compile (apt-get)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    else
        echo "[setup] WARNING: missing ${packages[*]}: torch.compile (inductor) on the CPU needs a C++" \
             "compiler and Python's headers; install them with your package manager." >&2
    fi
}

user_torch_ok() {
    "$PYTHON" - <<'PY' 2>/dev/null
import sys
import torch, torchvision  # noqa: F401
major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if (major, minor) >= (2, 6) else 1)
PY
}

if [ ! -f "$STAMP" ]; then
    install_ffmpeg_libs
    install_compiler
    if [ ! -x "$VENV/bin/python" ]; then
        if user_torch_ok; then
            echo "[setup] keeping the torch that $PYTHON already has"
            "$PYTHON" -m venv --system-site-packages "$VENV"
        else
            "$PYTHON" -m venv "$VENV"
        fi
    fi
    PIP="$VENV/bin/python -m pip"
    $PIP install -q --upgrade pip
    if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
        echo "[setup] installing torch 2.14.1, torchvision 0.29.1, torchcodec 0.17.0"
        $PIP install -q "torch==2.14.1" "torchvision==0.29.1" "torchcodec==0.17.0"
    elif ! "$VENV/bin/python" -c "import torchcodec" 2>/dev/null; then
        tv=$("$VENV/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
        case "$tv" in
            2.14.*) $PIP install -q "torchcodec==0.17.0" ;;
            *) $PIP install -q "torchcodec>=0.11,<0.18" ;;
        esac
    fi
    echo "[setup] installing the project and its test tools"
    $PIP install -q -e "$ROOT[test]"
    rm -f "$VENV"/.installed-*
    touch "$STAMP"
fi
# A broken torchcodec breaks datasets' Video feature; say so now, not deep inside a test.
"$VENV/bin/python" -m hf_loader.doctor --quiet || true
