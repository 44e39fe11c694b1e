"""Warm start: fetch the listed models before anyone asks for them, and load the defaults in the background.

`python -m llm_demo download [--task TASK ...] [--model MODEL ...] [--all]` fills the Hugging Face cache
(for container images and air-gapped machines); `LLM_DEMO_PRELOAD=1` has the app load each tab's default
model at start-up while the page already answers. Heavy modules are imported only when the command runs.
The command keeps its documented name; the module is named for its purpose, apart from models.hub.download(),
which fetches one model.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.hub import LoadProgress, OnProgress
    from .registry import ModelEntry, Registry

log = logging.getLogger("llm_demo")
PRELOADED_TASKS = ("translation", "generation", "classification", "sentiment", "qa", "fill_mask")  # a tab's model


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download",
        help="fetch the listed models into the Hugging Face cache",
        description="Download models into the Hugging Face cache, so the app starts warm "
        "and works offline. Without options: the default model of each "
        "task (the first listed).",
    )
    parser.add_argument(
        "--task",
        action="append",
        dest="tasks",
        metavar="TASK",
        default=[],
        help="every model listed for TASK (repeatable)",
    )
    parser.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="MODEL",
        default=[],
        help="a listed name or a Hub id (repeatable)",
    )
    parser.add_argument("--all", action="store_true", help="every model of the models file")
    parser.set_defaults(run=run)


def chosen_entries(registry: Registry, tasks: list[str], models: list[str], everything: bool) -> list[ModelEntry]:
    """The models to fetch, each once, in file order: by task, by name or id, all, or each task's default."""
    from .errors import InputError
    from .registry import TASKS

    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise InputError(
            "unknown_task", "Unknown task '{task}'. Choose one of: {tasks}.", task=unknown[0], tasks=", ".join(TASKS)
        )
    if everything:
        chosen = [entry for task in TASKS for entry in registry.tasks[task]]
    elif tasks or models:
        chosen = [entry for task in tasks for entry in registry.tasks[task]]
        chosen += [_listed_or_typed(registry, model) for model in models]
    else:
        chosen = default_entries(registry)
    unique: dict[tuple[str, str | None], ModelEntry] = {}
    for entry in chosen:
        unique.setdefault((entry.model, entry.revision), entry)
    return list(unique.values())


def default_entries(registry: Registry) -> list[ModelEntry]:
    """The first model of each task in the models file: what the tabs open with."""
    from .registry import TASKS

    return [registry.tasks[task][0] for task in TASKS if registry.tasks.get(task)]


def _listed_or_typed(registry: Registry, model: str) -> ModelEntry:
    """A listed model by name or id (with its revision), else the Hub id or folder as typed: the operator of
    the machine runs this command, so the deployment's limits on what users type do not apply."""
    from .registry import TASKS, ModelEntry

    listed = (entry for task in TASKS for entry in registry.tasks[task] if model in (entry.name, entry.model))
    return next(listed, None) or ModelEntry(model=model, name=model, task="")


@dataclass(frozen=True)
class Fetched:
    """What the command did for one model."""

    model: str
    downloaded: int  # bytes; 0 when it was already cached or is a local folder
    local: bool


def fetch_all(entries: list[ModelEntry], bar_for: Callable[[ModelEntry], OnProgress] | None = None) -> list[Fetched]:
    """Download each model in turn; `bar_for(entry)` gives a progress callback (a terminal bar) or None."""
    from .models.hub import download

    fetched = []
    for entry in entries:
        local = Path(entry.model).is_dir()
        downloaded = 0 if local else download(entry, bar_for(entry) if bar_for else None)
        fetched.append(Fetched(entry.model, downloaded, local))
    return fetched


class _TerminalBar:
    """A tqdm bar on stderr for one model's download, created when the first bytes are due."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry, self.bar = entry, None

    def __call__(self, progress: LoadProgress) -> None:
        from tqdm import tqdm

        if progress.total == 0:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=progress.total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=self.entry.model,
                file=sys.stderr,
                leave=True,
            )
        self.bar.update(progress.done - self.bar.n)
        if progress.done >= progress.total:
            self.bar.close()


def run(arguments: argparse.Namespace) -> int:
    from .models import with_weights_here
    from .registry import Registry

    # A model on a server (an `endpoint` entry) has no weights to fetch here.
    entries = chosen_entries(with_weights_here(Registry.load()), arguments.tasks, arguments.models, arguments.all)
    for result in fetch_all(entries, _TerminalBar):
        if result.local:
            print(f"{result.model}: already present (local folder)")
        elif result.downloaded:
            print(f"{result.model}: downloaded {result.downloaded / 1e6:,.1f} MB")
        else:
            print(f"{result.model}: already in the Hugging Face cache")
    return 0


def preload_defaults(registry: Registry) -> threading.Thread:
    """Load each tab's default model in a background thread, so the first click finds it ready while the page
    answers at once. At most the cache's size are loaded (more would evict the first); a failure is logged."""
    from .models import get_model
    from .registry import KIND_OF_TASK

    defaults = [
        (entry, KIND_OF_TASK[entry.task]) for entry in default_entries(registry) if entry.task in PRELOADED_TASKS
    ]

    def load_each() -> None:
        for entry, kind in defaults[: registry.settings.cache_size]:
            try:
                get_model(entry, kind)
            except Exception as error:  # noqa: BLE001 - the tab will show the same error when used
                log.warning("preloading %s failed: %s", entry.model, error)

    thread = threading.Thread(target=load_each, name="llm_demo-preload", daemon=True)
    thread.start()
    return thread
