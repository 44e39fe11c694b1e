"""Start-up (`python app.py` until the page answers) and the time a request adds to a bare forward pass."""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import running_app


def startup_seconds() -> float:
    """From `python app.py` to the page answering HTTP 200."""
    with running_app() as (_, seconds, _):
        return seconds


def request_overhead_ms(work: Path, repeats: int) -> dict:
    """Extra time our sentiment path adds to a bare forward pass on an already loaded model."""
    import torch

    from llm_demo.models import get_model
    from llm_demo.registry import ModelEntry
    from llm_demo.tasks.sentiment import analyse_lines

    loaded = get_model(ModelEntry(str(work / "minilm-2-labels"), "bench", "sentiment"), "sequence-classification")
    text = "The plot was thin but the music carried every scene."

    def bare() -> None:
        encoded = loaded.tokenizer([text], return_tensors="pt")
        with torch.inference_mode():
            loaded.model(**encoded).logits.softmax(-1)

    def ours() -> None:
        analyse_lines(loaded, text)

    def best_ms(call) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return 1000 * sorted(times)[len(times) // 2]

    bare(), ours()
    bare_ms, ours_ms = best_ms(bare), best_ms(ours)
    return {"bare_forward_ms": bare_ms, "ours_request_ms": ours_ms, "overhead_ms": ours_ms - bare_ms}
