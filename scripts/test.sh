#!/usr/bin/env bash
# Install (CPU torch first, so pip does not pull a multi-GB CUDA build) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -r requirements-dev.txt
# The real-server tests (tests/test_remote_vllm.py) run vLLM's CPU build from a venv of its own, outside the
# repository (~3.5 GB, installed once per machine); a no-op when it is there already.
bash scripts/vllm_server.sh install
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1
python -m pytest -q "$@"
