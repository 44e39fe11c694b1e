"""Tiny models a real vLLM server can serve, and the server fixture plumbing (scripts/vllm_server.sh).

vLLM's CPU build wants head_dim 64 and a vocabulary at least as large as the tokenizer's, so these are
a little wider than tiny_models.py's. Weights are random but fixed by the seed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from tiny_models import CHAT_TEMPLATE, MINILM_DIR, SENTIMENT_LABELS, byte_level_tokenizer, save_qwen2

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "vllm_server.sh"
CHAT_WINDOW = 2048  # long enough that a reply of the app's most new tokens takes seconds, time to press Stop


def build_qwen2_chat(folder: Path) -> Path:
    """A two-layer Qwen2 causal LM with a chat template: /v1/chat/completions and /v1/completions."""
    tokenizer = byte_level_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = CHAT_WINDOW
    return save_qwen2(
        folder,
        tokenizer,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=CHAT_WINDOW,
        tie_word_embeddings=True,
        initializer_range=0.2,
    )  # sharper than the default: varied greedy text


def build_bert_sentiment(folder: Path) -> Path:
    """A two-layer BERT sequence classifier (three sentiment labels): vLLM's /classify under --runner pooling."""
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=512,
        id2label=SENTIMENT_LABELS,
        label2id={name: index for index, name in SENTIMENT_LABELS.items()},
    )
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(MINILM_DIR).save_pretrained(folder)
    return folder


@dataclass
class Server:
    """A running vLLM server: its OpenAI base URL, the name it serves, and how to stop it."""

    pid: int
    port: int
    name: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.pid)], check=True, timeout=120)


def start_server(model: Path, name: str, log: Path, *extra: str) -> Server:
    """Start vLLM on a free port of 127.0.0.1 and wait until GET /health answers (installs vLLM if missing)."""
    done = subprocess.run(
        ["bash", str(SCRIPT), "start", str(model), name, str(log), *extra], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"vLLM did not start:\n{done.stderr[-3000:]}")
    pid, port = done.stdout.split()[-2:]
    return Server(int(pid), int(port), name, log)
