"""Tiny models a real vLLM server can serve, and the server fixture plumbing (scripts/vllm_server.sh).

vLLM's CPU build wants head_dim 64 and a vocabulary at least as large as the tokenizer's, so these are
a little wider than tiny_models.py's. Weights are random but fixed by the seed.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from tiny_models import CHAT_TEMPLATE, MINILM_DIR, SENTIMENT_LABELS, byte_level_tokenizer, save_qwen2

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "vllm_server.sh"
CHAT_WINDOW = 2048  # long enough that a reply of the app's most new tokens takes seconds, time to press Stop
KEY_ENV, KEY = "LLM_DEMO_TEST_VLLM_KEY", "test-key-4711"  # the classifier server wants this key


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


@dataclass
class Servers:
    chat: Server  # a tiny Qwen2 with a chat template
    classifier: Server  # a tiny BERT sentiment classifier under --runner pooling, behind a key
    chat_folder: Path
    classifier_folder: Path


def start_servers(root: Path) -> Servers:
    """Both test servers, started side by side (each takes tens of seconds to import vLLM and load); if one
    fails the other is stopped and the failure raised."""
    chat_folder, classifier_folder = build_qwen2_chat(root / "tiny-qwen2"), build_bert_sentiment(root / "tiny-bert")
    fp32 = ("--dtype", "float32")  # as `local` loads the same weights here
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(
                start_server, chat_folder, "tiny-chat", root / "chat.log", *fp32, "--max-model-len", str(CHAT_WINDOW)
            ),
            pool.submit(
                start_server,
                classifier_folder,
                "tiny-sentiment",
                root / "classifier.log",
                *fp32,
                "--max-model-len",
                "512",
                "--runner",
                "pooling",
                "--api-key",
                KEY,
            ),
        ]
    started = [future.result() for future in starting if future.exception() is None]
    if len(started) < 2:
        for server in started:
            server.stop()
        raise next(future.exception() for future in starting if future.exception() is not None)
    return Servers(*started, chat_folder, classifier_folder)
