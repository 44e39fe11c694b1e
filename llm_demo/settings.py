"""Every environment variable the app reads, in one place (documented in README)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DATA_DIR = Path("data")  # what the app writes and keeps (votes), beside the working directory like finetuned/


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from error


def on_spaces() -> bool:
    """Hugging Face Spaces sets SPACE_ID; a public Space should not load whatever a stranger types."""
    return bool(os.environ.get("SPACE_ID", "").strip())


LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_loopback(host: str) -> bool:
    """Whether a server bound to `host` answers only this machine: 127.x, ::1 or localhost (Gradio's default when
    GRADIO_SERVER_NAME is unset is 127.0.0.1). Anything else, 0.0.0.0 and host names included, counts as reachable."""
    host = host.strip().strip("[]").lower() or "127.0.0.1"
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_public() -> bool:
    """Whether strangers can reach the app: LLM_DEMO_PUBLIC=0|1 when set, else a guess from where it runs (a Space,
    or a server bound beyond loopback by GRADIO_SERVER_NAME). A public app gets cautious defaults: docs/deploying.md."""
    guess = on_spaces() or not is_loopback(os.environ.get("GRADIO_SERVER_NAME", ""))
    return _flag("LLM_DEMO_PUBLIC", guess)


# Defaults a public app gets for the caps that are off elsewhere (docs/deploying.md says why each).
PUBLIC_MAX_EVAL_ROWS = 2000
PUBLIC_MAX_FINETUNE_ROWS = 2000
PUBLIC_MAX_FINETUNED_MODELS = 10
PUBLIC_MAX_MODEL_MB = 2000
# The arena's limits per visitor, public or not: far above what a person reading two answers does, far below a script.
ARENA_BATTLES, ARENA_VOTES, ARENA_WINDOW_SECONDS = 20, 20, 300

DTYPES = ("auto", "float32", "bfloat16", "float16")


def _dtype(name: str) -> str:
    value = os.environ.get(name, "").strip().lower() or "auto"
    if value not in DTYPES:
        raise ValueError(f"{name} must be one of {', '.join(DTYPES)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    models_file: Path  # LLM_DEMO_MODELS
    allow_custom_models: bool  # LLM_DEMO_ALLOW_CUSTOM_MODELS: users may type a Hub id (off when public unless set)
    allow_local_paths: bool  # LLM_DEMO_ALLOW_LOCAL_PATHS: users may type a local directory (off when public unless set)
    cache_size: int  # LLM_DEMO_CACHE_SIZE: models kept loaded at once
    max_input_chars: int  # LLM_DEMO_MAX_INPUT_CHARS: per text box
    max_eval_rows: int  # LLM_DEMO_MAX_EVAL_ROWS: 0 means no cap (2000 when public unless set)
    token_budget: int  # LLM_DEMO_TOKEN_BUDGET: padded tokens per inference batch; 0 picks by device
    device: str  # LLM_DEMO_DEVICE: "auto", "cpu", "cuda", "mps"
    dtype: str  # LLM_DEMO_DTYPE: "auto" (by hardware), "float32", "bfloat16", "float16"
    pack_weights: bool  # LLM_DEMO_PACK_WEIGHTS: generation models' linear layers in oneDNN's layout on the CPU
    finetune_dir: Path  # LLM_DEMO_FINETUNE_DIR: where fine-tuned models are saved
    max_finetune_rows: int  # LLM_DEMO_MAX_FINETUNE_ROWS: 0 means no cap (2000 when public unless set)
    max_finetune_epochs: int  # LLM_DEMO_MAX_FINETUNE_EPOCHS
    max_upload_mb: int  # LLM_DEMO_MAX_UPLOAD_MB: largest file a user may upload
    preload: bool  # LLM_DEMO_PRELOAD: load each tab's default model in the background at start-up
    remote_timeout: int  # LLM_DEMO_REMOTE_TIMEOUT: seconds one request to a model server may take
    remote_retries: int  # LLM_DEMO_REMOTE_RETRIES: retries (with backoff) on 429, 5xx and lost connections
    db_path: Path  # LLM_DEMO_DB: SQLite file of arena votes, reviews of answers, and the response cache
    # Exposure (issue 23): a public app's cautious defaults, and the arena's per-visitor limits.
    public: bool  # LLM_DEMO_PUBLIC: reachable by strangers; guessed from SPACE_ID and GRADIO_SERVER_NAME
    max_model_mb: int  # LLM_DEMO_MAX_MODEL_MB: largest Hub model a user may type in; 0 means no cap (2000 public)
    max_finetuned_models: int  # LLM_DEMO_MAX_FINETUNED_MODELS: fine-tuned models kept, oldest removed; 0 keeps all
    arena_battles: int  # LLM_DEMO_ARENA_BATTLES: battles one visitor may start per arena window; 0 means no limit
    arena_votes: int  # LLM_DEMO_ARENA_VOTES: votes one visitor may cast per arena window; 0 means no limit
    arena_window_seconds: int  # LLM_DEMO_ARENA_WINDOW_SECONDS: the sliding window of those two limits
    max_columns: int  # LLM_DEMO_MAX_COLUMNS: widest uploaded table (0 means no cap)
    # How much one request may carry; over a cap, the request is refused with a message naming the variable.
    max_labels: int  # LLM_DEMO_MAX_LABELS: candidate labels of one zero-shot request (or file)
    max_lines: int  # LLM_DEMO_MAX_LINES: lines, one text each, of a many-texts box (sentiment)
    max_chat_turns: int  # LLM_DEMO_MAX_CHAT_TURNS: earlier turns a chat request may carry
    max_chat_chars: int  # LLM_DEMO_MAX_CHAT_CHARS: characters of those earlier turns together
    mcp: bool  # LLM_DEMO_MCP: also serve the task endpoints as Model Context Protocol tools, for agents
    keep_feedback_text: bool  # LLM_DEMO_KEEP_FEEDBACK_TEXT: a liked or disliked answer is kept with its conversation
    kv_cache_mb: (
        int  # LLM_DEMO_KV_CACHE_MB: keys and values of one model's streams at once; 0: a quarter of free memory
    )


def get_settings() -> Settings:
    """Read the environment now, so tests and deployments can change it without restarts of Python."""
    public = is_public()
    return Settings(
        models_file=Path(os.environ.get("LLM_DEMO_MODELS") or ASSETS_DIR / "models.yaml"),
        allow_custom_models=_flag("LLM_DEMO_ALLOW_CUSTOM_MODELS", not public),
        allow_local_paths=_flag("LLM_DEMO_ALLOW_LOCAL_PATHS", not public),
        cache_size=max(1, _int("LLM_DEMO_CACHE_SIZE", 4)),
        max_input_chars=max(1, _int("LLM_DEMO_MAX_INPUT_CHARS", 20_000)),
        max_eval_rows=max(0, _int("LLM_DEMO_MAX_EVAL_ROWS", PUBLIC_MAX_EVAL_ROWS if public else 0)),
        token_budget=max(0, _int("LLM_DEMO_TOKEN_BUDGET", 0)),
        device=os.environ.get("LLM_DEMO_DEVICE", "auto").strip().lower() or "auto",
        dtype=_dtype("LLM_DEMO_DTYPE"),
        pack_weights=_flag("LLM_DEMO_PACK_WEIGHTS", True),
        finetune_dir=Path(os.environ.get("LLM_DEMO_FINETUNE_DIR") or "finetuned"),
        max_finetune_rows=max(0, _int("LLM_DEMO_MAX_FINETUNE_ROWS", PUBLIC_MAX_FINETUNE_ROWS if public else 0)),
        max_finetune_epochs=max(1, _int("LLM_DEMO_MAX_FINETUNE_EPOCHS", 20)),
        max_upload_mb=max(1, _int("LLM_DEMO_MAX_UPLOAD_MB", 50)),
        preload=_flag("LLM_DEMO_PRELOAD", False),
        remote_timeout=max(1, _int("LLM_DEMO_REMOTE_TIMEOUT", 120)),
        remote_retries=max(0, _int("LLM_DEMO_REMOTE_RETRIES", 3)),
        db_path=Path(os.environ.get("LLM_DEMO_DB") or DATA_DIR / "llm_demo.sqlite3"),
        public=public,
        max_model_mb=max(0, _int("LLM_DEMO_MAX_MODEL_MB", PUBLIC_MAX_MODEL_MB if public else 0)),
        max_finetuned_models=max(
            0, _int("LLM_DEMO_MAX_FINETUNED_MODELS", PUBLIC_MAX_FINETUNED_MODELS if public else 0)
        ),
        arena_battles=max(0, _int("LLM_DEMO_ARENA_BATTLES", ARENA_BATTLES)),
        arena_votes=max(0, _int("LLM_DEMO_ARENA_VOTES", ARENA_VOTES)),
        arena_window_seconds=max(1, _int("LLM_DEMO_ARENA_WINDOW_SECONDS", ARENA_WINDOW_SECONDS)),
        max_columns=max(0, _int("LLM_DEMO_MAX_COLUMNS", 200)),
        max_labels=max(1, _int("LLM_DEMO_MAX_LABELS", 100)),
        max_lines=max(1, _int("LLM_DEMO_MAX_LINES", 1_000)),
        max_chat_turns=max(1, _int("LLM_DEMO_MAX_CHAT_TURNS", 200)),
        max_chat_chars=max(1, _int("LLM_DEMO_MAX_CHAT_CHARS", 200_000)),
        mcp=_flag("LLM_DEMO_MCP", False),
        keep_feedback_text=_flag("LLM_DEMO_KEEP_FEEDBACK_TEXT", False),
        kv_cache_mb=max(0, _int("LLM_DEMO_KV_CACHE_MB", 0)),
    )
