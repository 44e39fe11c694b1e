"""The benchmark's table from one run's results: printed by bench/run.py, and written into docs/performance.md
between its two markers, so that every figure the docs give comes from one run.

    python bench/report.py     # rewrites the table in docs/performance.md from bench/results/latest.json
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def rows(results: dict) -> list[tuple[str, str, str]]:
    """(measure, figure, what it is compared with and the target) for each line of the table."""
    e, g, s = results["evaluation"], results["generation"], results["startup"]
    c, d = results["concurrency"], results["classification_dtypes"]
    table = [
        ("evaluation rows", f"{e['rows']}", ""),
        ("ours end to end (CLI)", f"{e['ours_end_to_end_s']:.2f} s", f"{e['rows_per_s_end_to_end']:.0f} rows/s"),
        (
            "pipeline batch_size=32",
            f"{e['pipeline_batch32_s']:.2f} s",
            f"ours {e['speedup_vs_pipeline_batch32']:.2f}x faster (target 4x)",
        ),
        (
            "pipeline per-row loop",
            f"{e['per_row_loop_s']:.2f} s",
            f"ours {e['speedup_vs_per_row_loop']:.2f}x faster (target 1.5x)",
        ),
        ("floor: bare forward passes", f"{e['floor_forward_s']:.2f} s", ""),
        (
            "ours in process",
            f"{e['ours_in_process_s']:.2f} s",
            f"{e['in_process_share_of_floor']:.2f} of the floor (target 0.85)",
        ),
        ("peak memory of an evaluation", f"{results['memory_mb']:.0f} MB", ""),
        ("generation, bare generate", f"{g['bare_tokens_per_s']:.1f} tok/s", ""),
        (
            "generation, ours streamed",
            f"{g['ours_streamed_tokens_per_s']:.1f} tok/s",
            f"{g['streaming_share_of_bare']:.2f} of bare (target 0.95)",
        ),
        (
            "time to first token",
            f"{1000 * g['ours_time_to_first_token_s']:.0f} ms",
            f"bare one-token generate {1000 * g['bare_one_token_s']:.0f} ms",
        ),
        (
            "8 clients at once: aggregate",
            f"{c['together']['tokens_per_s']:.1f} tok/s",
            f"{c['aggregate_speedup']:.2f}x one client's {c['alone']['tokens_per_s']:.1f} tok/s (target 5x)",
        ),
        (
            "8 clients, weights not packed",
            f"{c['unpacked_together_tokens_per_s']:.1f} tok/s",
            f"{c['unpacked_aggregate_speedup']:.2f}x one client; packing makes 8 clients "
            f"{c['packing_speedup_together']:.2f}x faster",
        ),
        (
            "8 clients: first token median / worst",
            f"{c['together']['first_token_median_s']:.2f} s",
            f"worst {c['together']['first_token_worst_s']:.2f} s (target 3 s); "
            f"alone {c['alone']['first_token_worst_s']:.2f} s",
        ),
        (
            "single stream 0.3B, bf16 vs fp32",
            f"{c['single_stream_bf16_tokens_per_s']:.1f} tok/s",
            f"{c['bf16_single_stream_speedup']:.2f}x fp32's {c['single_stream_fp32_tokens_per_s']:.1f} tok/s "
            f"(target 1.25x)",
        ),
        (
            "classification in process, bf16",
            f"{d['ours_bf16_s']:.2f} s",
            f"{d['bf16_speedup_over_fp32']:.2f}x fp32's {d['ours_fp32_s']:.2f} s; "
            f"{d['bf16_share_of_bf16_floor']:.2f} of bare bf16 forwards ({d['floor_bf16_forward_s']:.2f} s); "
            f"bf16 hardware: {'yes' if d['cpu_has_bf16'] else 'no'}",
        ),
        ("start-up to HTTP 200", f"{s['seconds']:.2f} s", "target 5 s"),
        (
            "request overhead on a loaded model",
            f"{results['overhead']['overhead_ms']:.2f} ms",
            f"bare forward {results['overhead']['bare_forward_ms']:.1f} ms (target < 10 ms)",
        ),
    ]
    if "endpoint" in results:
        n = results["endpoint"]
        table += [
            (
                "evaluation through vLLM /classify",
                f"{n['endpoint_s']:.2f} s",
                f"{n['endpoint_rows_per_s']:.0f} rows/s, {n['concurrency']} in flight",
            ),
            (
                "same rows in process",
                f"{n['in_process_s']:.2f} s",
                f"{n['in_process_rows_per_s']:.0f} rows/s; same predictions {100 * n['same_predictions']:.1f}%",
            ),
        ]
    return table


def text_table(results: dict) -> str:
    """The table as bench/run.py prints it."""
    lines = rows(results)
    width = max(len(line[0]) for line in lines)
    return "\n".join(f"{name:<{width}}  {value:>12}  {note}" for name, value, note in lines)


def run_line(results: dict) -> str:
    """Which run the figures come from, and on what machine."""
    machine = results["machine"]
    run = "quick run" if results.get("quick") else "full run"
    date = f" on {results['date']}" if results.get("date") else ""
    return (
        f"From one {run} of `python bench/run.py`{date} (`bench/results/latest.json`): "
        f"{machine['cpu_count']} CPU cores ({machine['threads']} torch threads), {machine['cuda'] or 'no GPU'}, "
        f"Python {machine['python']}, torch {machine['torch']}, {machine['platform']}."
    )


def markdown(results: dict) -> str:
    """The table in Markdown, under the line that names the run."""
    lines = [run_line(results), "", "| measure | figure | compared with, and the target |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {note} |" for name, value, note in rows(results)]
    return "\n".join(lines)


def table_in(document: str) -> str:
    """What stands between the markers of `document`."""
    if START not in document or END not in document:
        raise ValueError(f"the document has no {START} ... {END} markers")
    return document[document.index(START) + len(START) : document.index(END)].strip("\n")


def with_table(document: str, table: str) -> str:
    """`document` with `table` between its markers."""
    table_in(document)  # the markers are there
    return f"{document[: document.index(START) + len(START)]}\n{table}\n{document[document.index(END) :]}"


def latest() -> dict:
    return json.loads(LATEST.read_text(encoding="utf-8"))


def main() -> None:
    before = DOC.read_text(encoding="utf-8")
    after = with_table(before, markdown(latest()))
    DOC.write_text(after, encoding="utf-8")
    print(
        f"{DOC.relative_to(ROOT)}: {'table rewritten from' if after != before else 'table already matches'} "
        f"{LATEST.relative_to(ROOT)}"
    )


if __name__ == "__main__":
    main()
