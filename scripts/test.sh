#!/usr/bin/env bash
# Install (CPU torch first, so pip does not pull a multi-GB CUDA build) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# PyTorch's CPU-only index: the default index serves the CUDA build on Linux (several GB of CUDA libraries).
# No retries: a machine that cannot reach it (a closed network with its own wheels) moves on at once.
python -m pip install --quiet --retries 0 torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
python -m pip install --quiet -r requirements-dev.txt
# The real-server tests (marked vllm) run vLLM's CPU build from a venv of its own, outside the repository
# (~3.5 GB, installed once per machine; a no-op when it is there already). SKIP_VLLM=1 skips both.
if [ -n "${SKIP_VLLM:-}" ]; then
  set -- -m "not vllm" "$@"
else
  bash scripts/vllm_server.sh install
fi
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
python -m pytest -q "$@"
