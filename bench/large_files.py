"""Evaluation of large files (`--streaming`): time and peak memory by number of rows, and the padding that
sorting by length within windows of each size costs."""

from __future__ import annotations

import random
from pathlib import Path

from bench.common import evaluate_with_peak_memory, make_reviews


def make_tiny_classifier(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with a sentiment head that reads at most 64 tokens: the model weighs almost
    nothing and a million rows take minutes, so what grows with the rows is the evaluation's own memory."""
    import torch
    import transformers
    from tiny_models import MINILM_DIR, bert_config, save_checkpoint

    torch.manual_seed(0)
    config = bert_config(
        max_position_embeddings=64, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    )
    return save_checkpoint(
        transformers.BertForSequenceClassification(config),
        transformers.AutoTokenizer.from_pretrained(MINILM_DIR),
        folder,
    )


def padding_by_window(rows: int = 60_000, budget: int = 2048) -> list[dict]:
    """Padded tokens per real token when rows are length-sorted within windows of each size, against the
    whole file sorted at once: the evidence for TaskEvaluation.window_rows (no model needed)."""
    from llm_demo.models.local.batching import token_budget_batches

    rng = random.Random(0)
    lengths = [(rng.randint(150, 400) if rng.random() < 0.1 else rng.randint(4, 20)) + 2 for _ in range(rows)]

    def padded(window: int) -> int:
        return sum(
            len(batch) * max(lengths[start + i] for i in batch)
            for start in range(0, rows, window)
            for batch in token_budget_batches(lengths[start : start + window], budget)
        )

    whole = padded(rows)
    return [
        {
            "window": window,
            "padded_per_token": padded(window) / sum(lengths),
            "extra_padding_vs_whole_file": padded(window) / whole - 1,
        }
        for window in (256, 1024, 4096, 8192, 16384)
    ]


def bench_streaming(work: Path, sizes: tuple[int, ...]) -> dict:
    """Rows, seconds and peak memory of `python -m llm_demo evaluate` on length-skewed files of each size.

    One torch thread: the model is so small that a second thread gains little, and on a shared machine
    two OpenMP threads that wait for each other make the times swing by several times."""
    model_dir = make_tiny_classifier(work / "tiny-classifier")
    runs = []
    for rows in sizes:
        csv_path = work / f"reviews-{rows}.csv"
        make_reviews(csv_path, rows)
        seconds, peak = evaluate_with_peak_memory(model_dir, csv_path, work / f"out-{rows}", {"OMP_NUM_THREADS": "1"})
        runs.append({"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "peak_memory_mb": peak})
        print(f"{rows:,} rows: {seconds:.1f} s, peak memory {peak:.0f} MB", flush=True)
        csv_path.unlink()
    return {"runs": runs, "padding_by_window": padding_by_window()}


def streaming_table(results: dict) -> str:
    lines = [f"{'rows':>10}  {'seconds':>8}  {'rows/s':>8}  {'peak memory':>12}"]
    lines += [
        f"{r['rows']:>10,}  {r['seconds']:>8.1f}  {r['rows_per_s']:>8.0f}  {r['peak_memory_mb']:>9.0f} MB"
        for r in results["runs"]
    ]
    first, last = results["runs"][0], results["runs"][-1]
    lines.append(
        f"peak memory at {last['rows']:,} rows / at {first['rows']:,}: "
        f"{last['peak_memory_mb'] / first['peak_memory_mb']:.2f}x (target 1.5x)"
    )
    lines.append("window  extra padding vs sorting the whole file")
    lines += [f"{w['window']:>6}  {100 * w['extra_padding_vs_whole_file']:.2f}%" for w in results["padding_by_window"]]
    return "\n".join(lines)
