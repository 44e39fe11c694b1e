"""Plain helpers the test modules share (fixtures are in conftest.py)."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from llm_demo.registry import ModelEntry

SCREENSHOTS = Path(os.environ.get("LLM_DEMO_SCREENSHOTS", "/tmp/llm_demo-screenshots"))


def entry(model: str | Path, name: str | None = None, task: str = "classification", **options: Any) -> ModelEntry:
    """A models.yaml entry for `model` (a folder or a Hub id), named after it unless `name` says otherwise."""
    return ModelEntry(model=str(model), name=name or str(model), task=task, options=options)


def evaluate_args(
    data: str | Path, out: str | Path, *extra: str, task: str = "sentiment", model: str = "Tiny BERT sentiment"
) -> list[str]:
    """`python -m llm_demo evaluate`'s arguments for one model of the tiny registry over a file."""
    return ["evaluate", "--task", task, "--model", model, "--csv", str(data), "--out", str(out), *extra]


def cpu_placement() -> str:
    """Where a model loaded with default options runs, as status lines show it, by the documented rule:
    $LLM_DEMO_DTYPE when set, else bf16 on a CPU with bf16 instructions and fp32 on one without."""
    from llm_demo.models.devices import cpu_has_bf16
    from llm_demo.settings import get_settings

    dtype = get_settings().dtype
    if dtype == "auto":
        dtype = "bfloat16" if cpu_has_bf16() else "float32"
    return f"cpu · {dtype}"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    """A file of `content` (text as UTF-8) in `folder`."""
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def read_rows(path: str | Path) -> list[dict]:
    """The rows of a CSV file the app wrote (UTF-8 with a byte order mark, which Excel needs)."""
    with Path(path).open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def read_predictions(out: Path) -> list[dict]:
    """The rows of predictions.csv, which an evaluation writes into its output folder."""
    return read_rows(out / "predictions.csv")


def screenshot(page: Any, name: str, full_page: bool = True) -> None:
    """Keep a picture of the page for people to look at ($LLM_DEMO_SCREENSHOTS); the tests never read it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)
