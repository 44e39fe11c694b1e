"""`python -m llm_demo finetune`: the fine-tuning tab's work from the shell; Ctrl-C stops as the tab's button does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..registry import Registry
from .data import labelled_rows
from .job import FinetuneJob, resolve_base_model
from .training import EpochResult, FinetuneSettings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`python -m llm_demo finetune --model M --csv FILE --out DIR [hyperparameters]`."""
    defaults = FinetuneSettings()
    parser = subparsers.add_parser(
        "finetune",
        help="train a text classifier on a labelled CSV",
        description="Fine-tune an encoder into a classifier for a CSV's labels; "
        "Ctrl-C stops and keeps the best epoch so far.",
    )
    parser.add_argument("--model", required=True, help="name from models.yaml (finetune:), Hub id or local folder")
    parser.add_argument("--csv", required=True, type=Path, help="labelled table: CSV, TSV or JSON Lines")
    parser.add_argument("--text-column", help="column holding the texts (guessed from the names if omitted)")
    parser.add_argument("--label-column", help="column holding the labels (guessed from the names if omitted)")
    parser.add_argument("--out", required=True, type=Path, help="folder to save the model in (must not exist)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--max-length", type=int, default=defaults.max_length, help="tokens per text")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio)
    parser.add_argument("--validation-fraction", type=float, default=defaults.validation_fraction)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--patience",
        type=int,
        default=defaults.patience,
        help="epochs without improvement before stopping; 0 never stops early",
    )
    parser.set_defaults(run=run_command)


def _mapped_column(given: str | None, guessed: dict[str, str | None], role: str) -> str:
    column = given or guessed[role]
    if not column:
        raise InputError("column_not_guessed", "Could not tell which column holds the {role}; name it.", role=role)
    return column


def run_command(arguments: argparse.Namespace) -> int:
    from ..evaluation.columns import guess_columns
    from ..evaluation.reading import read_table

    if not arguments.csv.is_file():
        raise InputError("no_such_file", "There is no file '{name}'.", name=str(arguments.csv))
    table = read_table(arguments.csv)
    guessed = guess_columns(list(table.frame.columns), "classification")
    rows = labelled_rows(
        table.frame,
        _mapped_column(arguments.text_column, guessed, "text"),
        _mapped_column(arguments.label_column, guessed, "label"),
    )
    settings = FinetuneSettings(
        epochs=arguments.epochs,
        learning_rate=arguments.learning_rate,
        batch_size=arguments.batch_size,
        max_length=arguments.max_length,
        weight_decay=arguments.weight_decay,
        warmup_ratio=arguments.warmup_ratio,
        validation_fraction=arguments.validation_fraction,
        seed=arguments.seed,
        patience=arguments.patience,
    )
    entry = resolve_base_model(Registry.load(), arguments.model)
    job = FinetuneJob(entry, rows, arguments.out, settings).start()
    printed = 0
    while True:
        try:
            done = job.wait(0.5)
        except KeyboardInterrupt:
            print("stopping: evaluating and saving the best epoch so far...", file=sys.stderr)
            job.stop()
            continue
        for epoch in job.epochs[printed:]:
            print(describe_epoch(epoch), file=sys.stderr)
        printed = len(job.epochs)
        if done:
            break
    result = job.outcome()
    print(
        f"saved {result.output_dir} (best: epoch {result.best.epoch:g}, accuracy {result.best.accuracy:.3f}, "
        f"macro F1 {result.best.macro_f1:.3f}; labels: {', '.join(result.label_names)})"
    )
    return 0


def describe_epoch(epoch: EpochResult) -> str:
    train = "n/a" if epoch.train_loss is None else f"{epoch.train_loss:.4f}"
    return (
        f"epoch {epoch.epoch:g}: train loss {train}, validation loss {epoch.validation_loss:.4f}, "
        f"accuracy {epoch.accuracy:.3f}, macro F1 {epoch.macro_f1:.3f} ({epoch.seconds:.1f} s)"
    )
