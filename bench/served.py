"""The benchmark rows through a model server (vLLM's CPU build, `/classify`) against the same evaluation in
this process."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import make_classifier, make_reviews


def _evaluation_seconds(csv_path: Path, model: str, registry) -> tuple[float, list[str]]:
    """Seconds of one evaluation in this process, and its predictions."""
    import csv

    from llm_demo.evaluation.run import evaluate

    with tempfile.TemporaryDirectory(prefix="llm_demo-bench-run-") as out:
        started = time.perf_counter()
        result = evaluate(
            "classification", csv_path, {"text": "text", "label": "label"}, [model], out, registry, bootstrap=0
        )
        seconds = time.perf_counter() - started
        with result.predictions_path.open(encoding="utf-8-sig", newline="") as file:
            return seconds, [row["prediction"] for row in csv.DictReader(file)]


def bench_endpoint(work: Path, rows: int) -> dict:
    """The benchmark rows through a vLLM server (CPU build, fp32, /classify, 16 requests in flight) beside the
    same evaluation in this process, in the same run. The server shares this machine's cores."""
    from vllm_models import start_server

    from llm_demo.registry import TASKS, ModelEntry, Registry
    from llm_demo.settings import get_settings

    model_dir = make_classifier(work / "minilm-endpoint")
    csv_path = work / "reviews-endpoint.csv"
    make_reviews(csv_path, rows)
    server = start_server(
        model_dir, "minilm", work / "vllm.log", "--runner", "pooling", "--dtype", "float32", "--max-model-len", "512"
    )
    try:
        entry = ModelEntry(
            "minilm", "minilm on vLLM", "classification", options={"endpoint": server.base_url, "max_concurrency": 16}
        )
        registry = Registry({task: [entry] if task == "classification" else [] for task in TASKS}, get_settings())
        _evaluation_seconds(csv_path, entry.name, registry)  # warm: the server's first batches compile kernels
        remote, remote_predictions = _evaluation_seconds(csv_path, entry.name, registry)
    finally:
        server.stop()
    _evaluation_seconds(csv_path, str(model_dir), Registry.load())
    local, local_predictions = _evaluation_seconds(csv_path, str(model_dir), Registry.load())
    same = sum(a == b for a, b in zip(remote_predictions, local_predictions)) / rows
    return {
        "rows": rows,
        "concurrency": 16,
        "endpoint_s": remote,
        "in_process_s": local,
        "endpoint_rows_per_s": rows / remote,
        "in_process_rows_per_s": rows / local,
        "same_predictions": same,
    }
