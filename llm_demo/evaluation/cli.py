"""`python -m llm_demo evaluate`: the evaluation tab's work from the shell, writing metrics.json,
predictions.csv and report.html (to share). Heavy modules are imported only when the command runs, so
`--help` is instant."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from .columns import ROLES

COLUMN_OPTIONS = (
    "text",
    "label",
    "question",
    "context",
    "answer",
    "source",
    "reference",
    "prompt",
    "system",
    "criteria",
)
PARTIAL = 1  # exit code when a model failed or the run was interrupted: the files hold the rows that finished


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score models on a CSV, TSV or JSON Lines file",
        description="Run models over a file and write DIR/metrics.json, DIR/predictions.csv and DIR/report.html.",
    )
    parser.add_argument("--task", required=True, choices=list(ROLES))
    parser.add_argument(
        "--model",
        required=True,
        action="append",
        dest="models",
        metavar="MODEL",
        help="registry name, Hub id or local folder (with --endpoint: the name the server serves); "
        "repeat to compare models side by side",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="an OpenAI-compatible server (e.g. vLLM) at URL, ending in /v1, runs the models instead of this process",
    )
    parser.add_argument("--api-key-env", metavar="VAR", help="with --endpoint: environment variable holding its key")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=16,
        metavar="N",
        help="with --endpoint: requests in flight at once (default 16)",
    )
    parser.add_argument(
        "--labels",
        metavar="A,B,...",
        help="with --endpoint, a sequence classifier: its class names "
        "in class-id order (the server names only the top class)",
    )
    parser.add_argument(
        "--target-lang",
        metavar="LANGUAGE",
        help="with --endpoint, translation: the language to translate into, e.g. English",
    )
    parser.add_argument("--csv", required=True, type=Path, metavar="FILE", help="CSV, TSV or JSON Lines file")
    for role in COLUMN_OPTIONS:
        parser.add_argument(
            f"--{role}-column",
            dest=role,
            metavar="C",
            help=f"column holding the {role} (default: guessed from the column names)",
        )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="at most N rows per batch, on top of the token budget ($LLM_DEMO_TOKEN_BUDGET)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        metavar="ROWS",
        help="rows read, sorted by length and batched together; memory grows with it, padding shrinks "
        "(default 8192; 256 for answers)",
    )
    parser.add_argument(
        "--robustness",
        action="store_true",
        help="also run every row through nine perturbations (case, typos, punctuation, whitespace, "
        "Chinese punctuation width and Simplified/Traditional) and report how often the "
        "prediction changes",
    )
    parser.add_argument("--slice-column", metavar="C", help="report the metrics per value of this column")
    parser.add_argument(
        "--swap-terms",
        metavar="FAMILIES",
        help="counterfactual fairness: also run a copy of every row naming such terms with them swapped, and "
        "report how often the prediction changes; comma-separated among gender,names,nationality,religion "
        "(term lists in assets/swaps/)",
    )
    parser.add_argument(
        "--propose-slices",
        action="store_true",
        help="report the metrics per text length quartile, digits or not, and writing system",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the perturbations, and of sampling for answers (default: 0)"
    )
    add_answers_options(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run that stopped in DIR (same file, task, columns and models): rows "
        "already in DIR/predictions.csv are not run again",
    )
    parser.set_defaults(run=run)


def add_answers_options(parser: argparse.ArgumentParser) -> None:
    """The answers task's options: how the models answer, and the judge."""
    group = parser.add_argument_group("answers task")
    group.add_argument("--max-new-tokens", type=int, default=256, metavar="N", help="longest answer (default 256)")
    group.add_argument("--temperature", type=float, default=0.0, help="0 (default) answers greedily")
    group.add_argument("--judge", metavar="MODEL", help="a generation model that grades and compares the answers")
    group.add_argument("--judge-mode", choices=("grade", "pairwise", "both"), default="both")
    group.add_argument("--judge-language", choices=("en", "zh"), default="en", help="language of the judge's prompts")
    group.add_argument(
        "--judge-instructions", type=Path, metavar="FILE", help="a text file of grading instructions for the judge"
    )
    group.add_argument(
        "--no-cache", action="store_true", help="generate and judge everything again (answers and verdicts are cached)"
    )


def answer_options(arguments: argparse.Namespace):
    from ..errors import InputError
    from .answers import AnswerOptions

    path = arguments.judge_instructions
    if path is not None and not path.is_file():
        raise InputError("no_such_file", "There is no file '{name}'.", name=str(path))
    instructions = path.read_text(encoding="utf-8") if path else None
    return AnswerOptions(
        max_new_tokens=arguments.max_new_tokens,
        temperature=arguments.temperature,
        seed=arguments.seed,
        judge=arguments.judge,
        judge_mode=arguments.judge_mode,
        instructions=instructions,
        language=arguments.judge_language,
        cache=not arguments.no_cache,
    )


def run(arguments: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..registry import Registry
    from ..settings import get_settings
    from . import answers_report, downloads, html_report, report
    from .columns import guess_columns
    from .reading import open_table
    from .recipes import BeyondAccuracy
    from .run import evaluate

    if arguments.batch_size is not None and arguments.batch_size < 1:
        raise InputError("bad_batch_size", "--batch-size must be at least 1.")
    if arguments.window is not None and arguments.window < 1:
        raise InputError("bad_window", "--window must be at least 1.")
    if not arguments.csv.is_file():
        raise InputError("no_such_file", "There is no file '{name}'.", name=str(arguments.csv))
    settings = get_settings()
    table = open_table(arguments.csv, settings.max_eval_rows or None)
    columns = guess_columns(table.columns, arguments.task)
    columns.update({role: getattr(arguments, role) for role in columns if getattr(arguments, role)})
    registry = endpoint_registry(arguments, settings) if arguments.endpoint else Registry.load(settings)
    with _ctrl_c_cancels() as cancel:
        result = evaluate(
            arguments.task,
            table,
            columns,
            arguments.models,
            arguments.out,
            registry,
            on_progress=_print_progress,
            cancel=cancel,
            batch_size=arguments.batch_size,
            resume=arguments.resume,
            window=arguments.window,
            beyond=BeyondAccuracy(
                arguments.robustness,
                arguments.slice_column,
                arguments.propose_slices,
                arguments.seed,
                tuple(family.strip() for family in (arguments.swap_terms or "").split(",") if family.strip()),
            ),
            answers=answer_options(arguments) if arguments.task == "answers" else None,
        )
    _clear_progress()
    predictions, metrics = downloads.write_downloads(result)
    page = html_report.write_report(result, html_report.FileInfo.of(arguments.csv, result), result.folder)
    print(report.text_tables(result))
    if result.task == "answers":
        print(answers_report.text_tables(result))
        reviewed = answers_report.write_reviews(result)
        if reviewed:
            print(f"Wrote {reviewed}")
    print(f"\nWrote {metrics}, {predictions} and {page}")
    for model in result.models:
        if model.status != "complete" or model.error:  # a complete run may still have rows a server failed
            print(
                f"error: {model.model}: {model.status}{': ' + model.error if model.error else ''}; "
                f"{model.rows_done} of {table.rows} rows finished"
                f"{'; --resume continues the run' if model.status == 'cancelled' else ''}",
                file=sys.stderr,
            )
    return 0 if result.finished else PARTIAL


def endpoint_registry(arguments: argparse.Namespace, settings):
    """The models named on the command line, all served at --endpoint: what models.yaml entries would say."""
    from ..registry import TASKS, ModelEntry, Registry, check_endpoint_options
    from .recipes import task_named

    task = task_named(arguments.task)
    options = {
        "endpoint": arguments.endpoint,
        "max_concurrency": arguments.max_concurrency,
        "zero_shot": arguments.task == "zero-shot",
    }
    if arguments.api_key_env:
        options["api_key_env"] = arguments.api_key_env
    if arguments.target_lang:
        options["target_lang"] = arguments.target_lang
    if arguments.labels:
        options["labels"] = [label.strip() for label in arguments.labels.split(",") if label.strip()]
    check_endpoint_options(options, "--endpoint")
    entries = [ModelEntry(model=name, name=name, task=task.registry_task, options=options) for name in arguments.models]
    return Registry({name: entries if name == task.registry_task else [] for name in TASKS}, settings)


@contextlib.contextmanager
def _ctrl_c_cancels() -> Iterator[threading.Event]:
    """The first Ctrl-C stops after the current batch and keeps what finished; a second one ends at once."""
    cancel = threading.Event()

    def on_interrupt(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_progress(progress) -> None:
    """One updating line on stderr when it is a terminal; silence in pipes and logs."""
    if not sys.stderr.isatty():
        return
    eta = f", {progress.eta_seconds:.0f} s left" if progress.eta_seconds is not None else ""
    print(
        f"\r{progress.model}: {progress.done}/{progress.total} rows, {progress.rows_per_second:.1f} rows/s{eta}",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _clear_progress() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)
