"""Which models each task offers: read from models.yaml (or $LLM_DEMO_MODELS), plus the user's own choices."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, ModelError
from .settings import Settings, get_settings

TASKS = ("translation", "generation", "classification", "sentiment", "qa", "fill_mask", "finetune")
REQUIRED_TASKS = ("translation", "generation", "classification", "sentiment", "qa")
FINETUNED_TASKS = ("classification", "sentiment")  # where a model trained in the app shows up
# What each task's models are loaded as: the model kinds of llm_demo.models (transformers' Auto classes).
KIND_OF_TASK = {
    "translation": "seq2seq",
    "generation": "causal-lm",
    "classification": "sequence-classification",
    "sentiment": "sequence-classification",
    "qa": "question-answering",
    "fill_mask": "masked-lm",
    "finetune": "sequence-classification",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelEntry:
    """One model offered for one task; `options` holds the task-specific keys of models.yaml."""

    model: str
    name: str
    task: str
    revision: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    typed: bool = field(default=False, compare=False)  # typed in by a user, not listed: held to LLM_DEMO_MAX_MODEL_MB

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    @property
    def endpoint(self) -> str | None:
        """The OpenAI-compatible base URL (…/v1) of the server that runs this model; None: it runs here."""
        return self.options.get("endpoint")


def check_endpoint_options(options: dict[str, Any], where: str) -> None:
    """An entry's server keys: `endpoint` an http(s) URL, `api_key_env` a variable name (never the key itself),
    `max_concurrency` a positive whole number, `labels` a list of class names."""
    endpoint = options.get("endpoint")
    if endpoint is None:
        return
    if not isinstance(endpoint, str) or not re.match(r"^https?://[^/\s]+", endpoint):
        raise ValueError(f"{where}: 'endpoint' must be an http(s) URL such as http://host:8000/v1, got {endpoint!r}")
    key_env = options.get("api_key_env")
    if key_env is not None and not (isinstance(key_env, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env)):
        raise ValueError(f"{where}: 'api_key_env' names an environment variable holding the key, got {key_env!r}")
    concurrency = options.get("max_concurrency", 1)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"{where}: 'max_concurrency' must be a whole number of at least 1, got {concurrency!r}")
    labels = options.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(isinstance(label, str) for label in labels)):
        raise ValueError(f"{where}: 'labels' must be a list of class names in class-id order, got {labels!r}")


def _entry(task: str, raw: Any, where: Path) -> ModelEntry:
    if isinstance(raw, str):
        raw = {"model": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), str) or not raw["model"].strip():
        raise ValueError(f"{where}: every entry under '{task}' needs a 'model:' string, got {raw!r}")
    options = {k: v for k, v in raw.items() if k not in {"model", "name", "revision"}}
    check_endpoint_options(options, f"{where}, '{task}' entry {raw['model']!r}")
    model = raw["model"].strip()
    return ModelEntry(
        model=model, name=str(raw.get("name") or model), task=task, revision=raw.get("revision"), options=options
    )


def read_models_file(path: Path) -> dict[str, list[ModelEntry]]:
    """Parse and check a models.yaml; a broken file is a deployment error, so it fails loudly."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as error:
        raise ValueError(f"models file not found: {path}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of task names to model lists")
    unknown = sorted(set(data) - set(TASKS))
    if unknown:
        raise ValueError(f"{path}: unknown task(s) {unknown}; valid tasks: {list(TASKS)}")
    missing = [task for task in REQUIRED_TASKS if not data.get(task)]
    if missing:
        raise ValueError(f"{path}: no models listed for {missing}")
    return {task: [_entry(task, raw, path) for raw in data.get(task) or []] for task in TASKS}


def _finetuned_entries(folder: Path, task: str) -> list[ModelEntry]:
    if not folder.is_dir():
        return []
    return [
        ModelEntry(model=str(path.resolve()), name=f"{path.name} (fine-tuned)", task=task)
        for path in sorted(folder.iterdir())
        if (path / "config.json").is_file()
    ]


Tasks = str | tuple[str, ...]  # views such as the attention viewer offer the models of several tasks


def _as_tuple(tasks: Tasks) -> tuple[str, ...]:
    return (tasks,) if isinstance(tasks, str) else tasks


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or "\\" in value or Path(value).exists()


@dataclass
class Registry:
    """The models a deployment offers, and the rules for models a user types in."""

    tasks: dict[str, list[ModelEntry]]
    settings: Settings

    @classmethod
    def load(cls, settings: Settings | None = None) -> Registry:
        settings = settings or get_settings()
        return cls(read_models_file(settings.models_file), settings)

    def entries(self, task: Tasks) -> list[ModelEntry]:
        """Models of one task, or of several (each name once, in file order), fine-tuned ones included."""
        found: list[ModelEntry] = []
        for name in _as_tuple(task):
            if name not in self.tasks:
                raise KeyError(f"unknown task {name!r}; valid tasks: {list(TASKS)}")
            extra = _finetuned_entries(self.settings.finetune_dir, name) if name in FINETUNED_TASKS else []
            found += [entry for entry in self.tasks[name] + extra if entry.name not in {e.name for e in found}]
        return found

    def default(self, task: Tasks) -> ModelEntry:
        return self.entries(task)[0]

    def choices(self, task: Tasks) -> list[str]:
        """Names to show in a dropdown, default first."""
        return [entry.name for entry in self.entries(task)]

    def resolve(self, task: Tasks, choice: str | None) -> ModelEntry:
        """Turn what the user picked or typed into an entry, enforcing the deployment's rules."""
        choice = (choice or "").strip()
        if not choice:
            return self.default(task)
        for entry in self.entries(task):
            if choice in (entry.name, entry.model):
                return entry
        return self._custom_entry(task, choice)

    def _custom_entry(self, tasks: Tasks, choice: str) -> ModelEntry:
        known = self.choices(tasks)
        task = _as_tuple(tasks)[0]
        elsewhere = next((other for other in TASKS if choice in self.choices(other)), None)
        if elsewhere:
            raise InputError(
                "model_for_other_task",
                "'{model}' is listed for {other}, not {task}. Choose one of: {known}.",
                model=choice,
                other=elsewhere,
                task=task,
                known=", ".join(known),
            )
        if not self.settings.allow_custom_models:
            close = difflib.get_close_matches(choice, known, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InputError(
                "custom_models_off",
                "This deployment only offers its listed models.{hint} Choose one of: {known}.",
                hint=hint,
                known=", ".join(known),
            )
        if _looks_like_path(choice):
            if not self.settings.allow_local_paths:
                raise InputError("local_paths_off", "Loading models from local folders is turned off here.")
            path = Path(choice).expanduser()
            if not (path / "config.json").is_file():
                raise ModelError(
                    "no_local_model", "No model found in folder '{path}' (it has no config.json).", path=choice
                )
            return ModelEntry(model=str(path.resolve()), name=choice, task=task, typed=True)
        if not _HUB_ID.match(choice):
            raise InputError(
                "bad_model_id",
                "'{model}' is not a valid model id. Use the form 'organisation/model-name'.",
                model=choice,
            )
        return ModelEntry(model=choice, name=choice, task=task, typed=True)
