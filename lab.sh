#!/usr/bin/env bash
# Embedding Geometry Lab: set-up and entry points.
#   ./lab.sh start   set up (first time) and start the app on http://127.0.0.1:8501
#   ./lab.sh stop    stop the app started by ./lab.sh start and the store's scheduler
#   ./lab.sh test    set up (first time, with test tools) and run the whole test suite
# Environment: LAB_PORT (default 8501), LAB_STORE (default ./lab_store), PYTHON (default
# python3), LAB_SKIP_SETUP=1 (use .venv as it is: no install check).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
VENV=.venv
STORE="${LAB_STORE:-lab_store}"
PORT="${LAB_PORT:-8501}"

setup() {  # $1 = extras ("" or "test")
    [ "${LAB_SKIP_SETUP:-0}" = 1 ] && return 0
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[lab] first run: creating $VENV and installing the app into it (about a minute, more if"
        echo "[lab] PyTorch must be downloaded; later starts skip this)"
        echo "[lab] creating $VENV (system site-packages visible, so an installed torch is reused)"
        "$PY" -m venv --system-site-packages "$VENV"
    fi
    if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
        # a plain 'torch' requirement can pull a multi-GB CUDA build: try the CPU build first
        echo "[lab] installing PyTorch (CPU build torch==2.13.0, about 200 MB to download)"
        "$VENV/bin/pip" install --progress-bar on torch==2.13.0 || "$VENV/bin/pip" install --progress-bar on torch
    fi
    local spec="." stamp
    [ -n "${1:-}" ] && spec=".[$1]"
    stamp="$VENV/.installed-$(sha1sum < pyproject.toml | cut -c1-12)-${1:-app}"
    if [ ! -f "$stamp" ]; then
        echo "[lab] installing $spec and its dependencies (streamlit, umap-learn, plotly, scikit-learn, pandas"
        [ -n "${1:-}" ] && echo "[lab] and the test tools: pytest, playwright, pytorch-metric-learning, ruff, hypothesis)"
        echo "[lab] into $VENV: about a minute the first time (numba and llvmlite for UMAP are the largest)"
        # pip's own lines (Collecting, Downloading, Installing) show the progress; a failure stops here
        "$VENV/bin/pip" install --progress-bar off -e "$spec" | { grep -v '^Requirement already satisfied' || true; }
        touch "$stamp"
        echo "[lab] set-up done"
    fi
}

# the command line of a live process, "" when it is gone
cmdline() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" || true; }

# stop process $1 if its command line contains $2: SIGTERM (to its process group when it leads
# one), then SIGKILL after 10 s; prints what it did
stop_pid() {
    local pid="$1" what="$2" target i
    case "$(cmdline "$pid")" in
    *"$what"*) ;;
    *) return 1 ;;
    esac
    target="$pid"
    [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target="-$pid"
    kill -TERM -- "$target" 2>/dev/null || true
    for i in $(seq 50); do
        [ -n "$(cmdline "$pid")" ] || return 0  # gone (a zombie has an empty command line)
        sleep 0.2
    done
    echo "[lab] process $pid did not stop within 10 s: killing it"
    kill -KILL -- "$target" 2>/dev/null || true
}

stop() {
    local f pid port stopped=0
    # the app first: it would start the scheduler again
    for f in "$STORE"/app-*.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f" 2>/dev/null || true)"
        port="${f##*/app-}"
        port="${port%.pid}"
        if [ -n "$pid" ] && stop_pid "$pid" "streamlit run app.py"; then
            echo "[lab] stopped the app on http://127.0.0.1:$port (process $pid)"
            stopped=1
        fi
        rm -f "$f"
    done
    [ "$stopped" = 1 ] || echo "[lab] no app started by ./lab.sh start is running on the store $STORE"
    pid="$(cat "$STORE/scheduler.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && stop_pid "$pid" "trainers scheduler"; then
        echo "[lab] stopped the scheduler of $STORE (process $pid): queued runs wait until the app or the CLI starts it again"
    else
        echo "[lab] no scheduler is running on $STORE"
    fi
    # workers are detached on purpose: they finish their runs and write them to the store
    if [ -x "$VENV/bin/python" ] && [ -f "$STORE/lab.sqlite" ]; then
        LAB_STORE="$STORE" "$VENV/bin/python" - <<'PY' || true
from jobs import store as st
from jobs.store import pid_alive

s = st.Store()
live = [r for r in s.list_runs(status=st.RUNNING) if r.pid and pid_alive(r.pid, r.pid_start)]
if live:
    print(f"[lab] {len(live)} run(s) keep training in their worker processes and write to the store:")
    for r in live:
        print(f"[lab]   {r.id}  {r.name}  (worker process {r.pid}, epoch {r.epoch}/{r.total_epochs})")
    print("[lab] to stop one: .venv/bin/python -m trainers cancel RUN_ID   (resume it later with: resume RUN_ID)")
PY
    fi
}

case "${1:-}" in
start)
    setup ""
    shift
    # exec keeps this process id: ./lab.sh stop finds the app by it
    how="Ctrl-C or ./lab.sh stop"
    if ! { mkdir -p -m 700 "$STORE" && echo $$ > "$STORE/app-$PORT.pid"; } 2>/dev/null; then
        echo "[lab] cannot write $STORE/app-$PORT.pid: ./lab.sh stop will not find this app"
        how="Ctrl-C"
    fi
    echo "[lab] starting the app on http://127.0.0.1:$PORT (store: $STORE); stop it with $how"
    exec "$VENV/bin/python" -m streamlit run app.py --server.address 127.0.0.1 --server.port "$PORT" \
        --server.headless true --browser.gatherUsageStats false "$@"
    ;;
stop)
    stop
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
    echo "usage: ./lab.sh start | ./lab.sh stop | ./lab.sh test [pytest args]" >&2
    exit 2
    ;;
esac
