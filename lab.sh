#!/usr/bin/env bash
# Embedding Geometry Lab: set-up and entry points.
#   ./lab.sh start   set up (first time) and start the app on http://127.0.0.1:8501
#   ./lab.sh test    set up (first time, with test tools) and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
VENV=.venv

setup() {  # $1 = extras ("" or "test")
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[lab] creating $VENV (system site-packages visible, so an installed torch is reused)"
        "$PY" -m venv --system-site-packages "$VENV"
    fi
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        # a plain 'torch' requirement can pull a multi-GB CUDA build: try the CPU build first
        echo "[lab] installing torch"
        "$VENV/bin/pip" install -q torch==2.13.0 || "$VENV/bin/pip" install -q torch
    fi
    local spec="." stamp
    [ -n "${1:-}" ] && spec=".[$1]"
    stamp="$VENV/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${1:-app}"
    if [ ! -f "$stamp" ]; then
        echo "[lab] installing $spec"
        "$VENV/bin/pip" install -q -e "$spec"
        touch "$stamp"
    fi
}

case "${1:-}" in
start)
    setup ""
    shift
    exec "$VENV/bin/python" -m streamlit run app.py --server.address 127.0.0.1 --server.port "${LAB_PORT:-8501}" \
        --server.headless true --browser.gatherUsageStats false "$@"
    ;;
test)
    setup test
    if ! "$VENV/bin/python" -c "import libauc" 2>/dev/null; then
        "$VENV/bin/pip" install -q --no-deps libauc==2.0.1 || echo "[lab] libauc unavailable: its comparison tests will skip"
    fi
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[lab] installing Debian chromium for the browser test"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "[lab] chromium unavailable: the browser test will skip"
    fi
    shift
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
*)
    echo "usage: ./lab.sh start | ./lab.sh test [pytest args]" >&2
    exit 2
    ;;
esac
