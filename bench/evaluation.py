"""Evaluation throughput: `python -m llm_demo evaluate` against transformers' pipeline (batched and row by
row) and against the floor of bare forward passes; in-process evaluation in bf16 against fp32; peak memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.common import evaluate_with_peak_memory, make_classifier, make_reviews, timed_process

PIPELINE_SCRIPT = """
import csv, sys, transformers
texts = [row["text"] for row in csv.DictReader(open(sys.argv[1], encoding="utf-8"))]
classify = transformers.pipeline("text-classification", model=sys.argv[2], device="cpu")
if sys.argv[3] == "per-row":
    out = [classify(text, truncation=True)[0] for text in texts]
else:
    out = classify(texts, batch_size=int(sys.argv[3]), truncation=True)
print(len(out))
"""


def floor_seconds(model_dir: Path, texts: list[str], budget: int, dtype: str = "float32") -> float:
    """The floor: pre-tokenized, length-sorted batches of bare forward passes, nothing else timed."""
    import torch
    import transformers

    from llm_demo.models.local.batching import pad, token_budget_batches

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model.eval()
    ids = tokenizer(texts, truncation=True, max_length=512)["input_ids"]
    batches = [
        pad([ids[i] for i in batch], tokenizer.pad_token_id)
        for batch in token_budget_batches([len(x) for x in ids], budget)
    ]
    started = time.perf_counter()
    with torch.inference_mode():
        for input_ids, mask in batches:
            model(input_ids=input_ids, attention_mask=mask)
    return time.perf_counter() - started


def in_process_seconds(model_dir: Path, csv_path: Path) -> float:
    """Our evaluation in this process with the model loaded: reading, batching, inference and metrics.

    Timed on the second run, as a running app sees it: the first pays one-time imports (scikit-learn,
    sacrebleu) and warm-ups, which are start-up, measured end to end above.
    """
    from llm_demo.evaluation.run import evaluate
    from llm_demo.registry import Registry

    def run() -> float:
        started = time.perf_counter()
        evaluate(
            "classification",
            csv_path,
            {"text": "text", "label": "label"},
            [str(model_dir)],
            csv_path.parent / "out-in-process",
            Registry.load(),
        )
        return time.perf_counter() - started

    run()
    return run()


def in_dtype(dtype: str, measure, *args) -> float:
    """`measure` with models loaded in `dtype` ($LLM_DEMO_DTYPE), from an empty model cache."""
    from llm_demo.models.cache import model_cache

    previous = os.environ.get("LLM_DEMO_DTYPE")
    os.environ["LLM_DEMO_DTYPE"] = dtype
    model_cache().clear()
    try:
        return measure(*args)
    finally:
        os.environ.pop("LLM_DEMO_DTYPE") if previous is None else os.environ.update(LLM_DEMO_DTYPE=previous)
        model_cache().clear()


def bench_classification_dtypes(work: Path, rows: int) -> dict:
    """In-process evaluation of the benchmark rows in bf16 against fp32, and against bare bf16 forward passes."""
    from llm_demo.models.devices import cpu_has_bf16
    from llm_demo.models.local.batching import default_budget

    model_dir, csv_path = work / "minilm-2-labels", work / "reviews-dtypes.csv"
    texts = make_reviews(csv_path, rows)
    fp32 = in_dtype("float32", in_process_seconds, model_dir, csv_path)
    bf16 = in_dtype("bfloat16", in_process_seconds, model_dir, csv_path)
    floor_bf16 = floor_seconds(model_dir, texts, default_budget("cpu"), "bfloat16")
    return {
        "rows": rows,
        "cpu_has_bf16": cpu_has_bf16(),
        "ours_fp32_s": fp32,
        "ours_bf16_s": bf16,
        "floor_bf16_forward_s": floor_bf16,
        "bf16_speedup_over_fp32": fp32 / bf16,
        "bf16_share_of_bf16_floor": floor_bf16 / bf16,
    }


def bench_evaluation(work: Path, rows: int) -> dict:
    model_dir = make_classifier(work / "minilm-2-labels")
    csv_path = work / "reviews.csv"
    texts = make_reviews(csv_path, rows)
    from llm_demo.models.local.batching import default_budget

    budget = default_budget("cpu")
    ours, _ = timed_process(
        [
            "-m",
            "llm_demo",
            "evaluate",
            "--task",
            "classification",
            "--model",
            str(model_dir),
            "--csv",
            str(csv_path),
            "--out",
            str(work / "out"),
        ]
    )
    pipeline32, _ = timed_process(["-c", PIPELINE_SCRIPT, str(csv_path), str(model_dir), "32"])
    per_row, _ = timed_process(["-c", PIPELINE_SCRIPT, str(csv_path), str(model_dir), "per-row"])
    floor = floor_seconds(model_dir, texts, budget)
    in_process = in_process_seconds(model_dir, csv_path)
    return {
        "rows": rows,
        "ours_end_to_end_s": ours,
        "pipeline_batch32_s": pipeline32,
        "per_row_loop_s": per_row,
        "floor_forward_s": floor,
        "ours_in_process_s": in_process,
        "speedup_vs_pipeline_batch32": pipeline32 / ours,
        "speedup_vs_per_row_loop": per_row / ours,
        "in_process_share_of_floor": floor / in_process,
        "rows_per_s_end_to_end": rows / ours,
    }


def peak_memory_mb(work: Path) -> float:
    return evaluate_with_peak_memory(work / "minilm-2-labels", work / "reviews.csv", work / "out-memory")[1]
