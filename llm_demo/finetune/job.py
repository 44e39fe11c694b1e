"""The fine-tuning job: one training on a background thread that a UI or a terminal watches and stops, the
models it may start from (a saved one continues its training), and what is done with the saved model."""

from __future__ import annotations

import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, ModelError
from ..registry import ModelEntry, Registry
from .data import LabelledRows
from .training import EpochResult, FinetuneResult, FinetuneSettings, StepLoss, finetune


@dataclass
class FinetuneJob:
    """One training on a background thread: a UI polls `steps`/`epochs` while it runs and calls `stop()`."""

    entry: ModelEntry
    rows: LabelledRows
    output_dir: Path
    settings: FinetuneSettings
    keep_models: int = 0  # fine-tuned models kept beside output_dir once this one is saved, oldest removed; 0: all
    steps: list[StepLoss] = field(default_factory=list)
    epochs: list[EpochResult] = field(default_factory=list)
    result: FinetuneResult | None = None
    error: BaseException | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> FinetuneJob:
        self._thread = threading.Thread(target=self._run, name="finetune", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = finetune(
                self.entry, self.rows, self.output_dir, self.settings, self._collect, self.stop_requested
            )
            keep_newest(self.output_dir.parent, self.keep_models)
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the job
            self.error = error

    def _collect(self, event: StepLoss | EpochResult) -> None:
        (self.steps if isinstance(event, StepLoss) else self.epochs).append(event)

    def stop(self) -> None:
        self.stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds; True once the training has ended (saved or failed)."""
        if self._thread is None:
            raise RuntimeError("the job was never started")
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def outcome(self) -> FinetuneResult:
        """The result of a finished job, or the error that ended it."""
        if self.error is not None:
            raise self.error
        return self.result


# --- models to start from, the saved model's uses -----------------------------------------------


def base_models(registry: Registry) -> list[ModelEntry]:
    """The listed encoders, then the models fine-tuned here, which can be trained further."""
    finetuned = registry.settings.finetune_dir.resolve()
    own = [entry for entry in registry.entries("classification") if Path(entry.model).parent == finetuned]
    return registry.entries("finetune") + own


def resolve_base_model(registry: Registry, choice: str | None) -> ModelEntry:
    for entry in base_models(registry):
        if (choice or "").strip() in (entry.name, entry.model):
            return entry
    return registry.resolve("finetune", choice)


def saved_models(folder: Path) -> list[Path]:
    """The models saved in a folder of fine-tuned models, oldest first (by when each one's config was written)."""
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if not path.name.startswith(".") and not path.is_symlink() and (path / "config.json").is_file()
    ]
    return sorted(found, key=lambda path: (path / "config.json").stat().st_mtime)


def keep_newest(folder: Path, limit: int) -> list[Path]:
    """Remove the oldest fine-tuned models beyond `limit` (LLM_DEMO_MAX_FINETUNED_MODELS; 0 keeps all), so a public
    app's disk and model lists stay bounded while training stays open to the next visitor; returns those removed.
    A link to a folder elsewhere is neither counted nor followed."""
    removed = saved_models(folder)[:-limit] if limit else []
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def output_folder(finetune_dir: Path, name: str | None, base: ModelEntry) -> Path:
    """Where a model named in the UI is saved: a safe folder name under the fine-tuned models folder."""
    name = (name or "").strip() or f"{Path(base.model).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    safe = re.sub(r"[^\w.-]+", "-", name).strip(".-")
    if not safe:
        raise InputError(
            "bad_model_name", "'{name}' cannot be a folder name; use letters, digits, '-' or '_'.", name=name
        )
    return finetune_dir / safe


def zip_model(folder: Path, destination: Path) -> Path:
    """The saved model as one zip file in `destination`, for download."""
    return Path(shutil.make_archive(str(destination / folder.name), "zip", root_dir=folder))


def push_to_hub(folder: Path, repo_id: str, token: str) -> str:
    """Upload a saved model to a private Hub repository of the token's owner; returns the repository URL."""
    repo_id, token = (repo_id or "").strip(), (token or "").strip()
    if not repo_id or not token:
        raise InputError("hub_details_missing", "To upload, give both a repository name and a Hugging Face token.")
    from ..models.hub import hub_reachable

    if not hub_reachable():
        raise ModelError("hub_push_unreachable", "Cannot upload: the Hugging Face Hub is unreachable from here.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=True, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Fine-tuned with llm_demo")
    except Exception as error:
        raise ModelError(
            "hub_push_failed",
            "Could not upload to '{repo}': {reason}",
            repo=repo_id,
            reason=(str(error).splitlines() or [type(error).__name__])[0][:300],
        ) from error
    return str(url)
