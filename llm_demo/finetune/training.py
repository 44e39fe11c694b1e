"""Training: a pretrained encoder plus a fresh classification head, trained on the user's labelled rows.

The recipe is the usual one for small encoders: AdamW with linear warmup and decay, a training loop
driven by accelerate (mixed precision on a GPU), a stratified validation split scored each epoch with
the evaluation module's metrics, early stopping, and the best epoch's weights saved at the end.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..evaluation.metrics import classification_metrics
from ..inputs import check_range
from ..registry import ModelEntry
from ..settings import get_settings
from .data import LabelledRows, capped, check_trainable, label_order, split_rows

if TYPE_CHECKING:  # torch is imported when training starts, so `python -m llm_demo --help` stays instant
    import torch

RECORD_FILE = "training.json"  # saved beside the weights: how the model was made


@dataclass(frozen=True)
class FinetuneSettings:
    """Hyperparameters; the defaults suit a small encoder on a few thousand short texts."""

    epochs: int = 3
    learning_rate: float = 2e-5
    batch_size: int = 16
    max_length: int = 128  # tokens per text; longer texts are truncated
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1  # share of all steps spent raising the learning rate from zero
    validation_fraction: float = 0.2
    seed: int = 42
    patience: int = 2  # epochs without a better validation score before stopping; 0 never stops early

    def checked(self, max_epochs: int) -> FinetuneSettings:
        """The same settings with whole numbers where needed; absurd values are refused by name."""
        return replace(
            self,
            epochs=int(check_range("Epochs", self.epochs, 1, max_epochs)),
            learning_rate=float(check_range("Learning rate", self.learning_rate, 1e-7, 1e-2)),
            batch_size=int(check_range("Batch size", self.batch_size, 1, 512)),
            max_length=int(check_range("Max sequence length", self.max_length, 8, 8192)),
            weight_decay=float(check_range("Weight decay", self.weight_decay, 0, 1)),
            warmup_ratio=float(check_range("Warmup ratio", self.warmup_ratio, 0, 0.5)),
            validation_fraction=float(check_range("Validation fraction", self.validation_fraction, 0.05, 0.5)),
            seed=int(check_range("Seed", self.seed, 0, 2**32 - 1)),
            patience=int(check_range("Early stopping patience", self.patience, 0, 100)),
        )


# --- progress and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class StepLoss:
    step: int
    epoch: float
    loss: float


@dataclass(frozen=True)
class EpochResult:
    """Validation after an epoch; `epoch` is fractional when a stop ended it early."""

    epoch: float
    train_loss: float | None  # mean over the epoch's steps; None when it had none
    validation_loss: float
    accuracy: float
    macro_f1: float
    seconds: float

    def beats(self, other: EpochResult) -> bool:
        """Higher macro F1 wins (fair to rare labels); lower validation loss breaks a tie."""
        return (self.macro_f1, -self.validation_loss) > (other.macro_f1, -other.validation_loss)


Progress = Callable[[StepLoss | EpochResult], None]


@dataclass(frozen=True)
class FinetuneResult:
    output_dir: Path
    base_model: str
    label_names: list[str]
    epochs: list[EpochResult]
    best: EpochResult
    stopped_by: str  # "finished", "early_stopping" or "user"
    train_rows: int
    validation_rows: int
    settings: FinetuneSettings


# --- training ------------------------------------------------------------------------------------


def _parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only, not on biases and LayerNorm, as BERT was trained."""
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        (plain if parameter.ndim < 2 or "LayerNorm" in name else decayed).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def _loader(
    token_ids: list[list[int]], label_ids: list[int], pad_id: int, batch_size: int, shuffle_seed: int | None
) -> torch.utils.data.DataLoader:
    """Batches padded to their own longest row; shuffled for training when given a seed."""
    import torch

    from ..models.local.batching import pad

    def collate(rows: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad([ids for ids, _ in rows], pad_id)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": torch.tensor([label for _, label in rows]),
        }

    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return torch.utils.data.DataLoader(
        list(zip(token_ids, label_ids)),
        batch_size=batch_size,
        shuffle=generator is not None,
        generator=generator,
        collate_fn=collate,
    )


class _Training:
    """The prepared model, optimizer, schedule and data of one run; `finetune` drives it epoch by epoch."""

    def __init__(
        self,
        entry: ModelEntry,
        rows: LabelledRows,
        names: list[str],
        split: tuple[list[int], list[int]],
        settings: FinetuneSettings,
    ) -> None:
        import torch
        from accelerate import Accelerator
        from transformers import get_linear_schedule_with_warmup

        from ..models.local.model import load_model

        torch.manual_seed(settings.seed)  # the new head's initial weights and dropout
        label2id = {name: index for index, name in enumerate(names)}
        loaded = load_model(
            entry,
            "sequence-classification",
            new_head={
                "num_labels": len(names),
                "id2label": dict(enumerate(names)),
                "label2id": label2id,
                "ignore_mismatched_sizes": True,
            },
        )  # a checkpoint's head for other labels is replaced, not an error
        self.tokenizer, self.names = loaded.tokenizer, names
        self.inference_dtype, self.device_type = loaded.dtype, loaded.device.type  # what the tasks would run in
        on_gpu = loaded.device.type == "cuda"
        self.accelerator = Accelerator(
            cpu=loaded.device.type == "cpu",
            mixed_precision=(("bf16" if torch.cuda.is_bf16_supported() else "fp16") if on_gpu else "no"),
        )
        model = loaded.model.float()  # full-precision master weights; autocast gives the speed on a GPU
        limit = min(settings.max_length, loaded.token_limit)
        token_ids = self.tokenizer(rows.texts, truncation=True, max_length=limit)["input_ids"]
        label_ids = [label2id[label] for label in rows.labels]
        pad_id = self.tokenizer.pad_token_id or 0
        train, validation = split
        train_loader = _loader(
            [token_ids[i] for i in train],
            [label_ids[i] for i in train],
            pad_id,
            settings.batch_size,
            shuffle_seed=settings.seed,
        )
        validation_loader = _loader(
            [token_ids[i] for i in validation],
            [label_ids[i] for i in validation],
            pad_id,
            settings.batch_size,
            shuffle_seed=None,
        )
        self.validation_labels = [rows.labels[i] for i in validation]
        optimizer = torch.optim.AdamW(_parameter_groups(model, settings.weight_decay), lr=settings.learning_rate)
        self.steps_per_epoch = len(train_loader)
        total_steps = self.steps_per_epoch * settings.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, round(settings.warmup_ratio * total_steps), total_steps)
        (self.model, self.optimizer, self.train_loader, self.validation_loader, self.scheduler) = (
            self.accelerator.prepare(model, optimizer, train_loader, validation_loader, scheduler)
        )
        self.step = 0

    def train_epoch(self, epoch: int, on_progress: Progress, stop: threading.Event) -> list[float]:
        """One pass over the training rows, or fewer steps if `stop` is set; returns the step losses."""
        self.model.train()
        losses: list[float] = []
        for batch in self.train_loader:
            if stop.is_set():
                break
            loss = self.model(**batch).loss
            self.accelerator.backward(loss)
            self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
            self.step += 1
            losses.append(loss.item())
            on_progress(StepLoss(self.step, epoch + len(losses) / self.steps_per_epoch, losses[-1]))
        return losses

    def evaluate(self) -> tuple[float, list[str]]:
        """Mean validation loss and the predicted label of each validation row."""
        import torch

        self.model.eval()
        total_loss, predictions = 0.0, []
        half = self.inference_dtype != torch.float32  # evaluate as the saved model will be served (bf16 CPUs too)
        with torch.no_grad(), torch.autocast(self.device_type, dtype=self.inference_dtype, enabled=half):
            for batch in self.validation_loader:
                output = self.model(**batch)
                total_loss += output.loss.item() * len(batch["labels"])
                predictions += [self.names[index] for index in output.logits.argmax(dim=-1).tolist()]
        return total_loss / len(predictions), predictions

    def epoch_result(self, epoch: float, losses: list[float], started: float) -> EpochResult:
        validation_loss, predictions = self.evaluate()
        metrics = classification_metrics(self.validation_labels, predictions, labels=self.names, bootstrap=0)
        return EpochResult(
            epoch=round(epoch, 3),
            train_loss=sum(losses) / len(losses) if losses else None,
            validation_loss=validation_loss,
            accuracy=metrics.accuracy,
            macro_f1=metrics.macro_f1,
            seconds=time.perf_counter() - started,
        )

    def weights(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights in CPU memory, where keeping the best epoch costs no GPU memory."""
        state = self.accelerator.unwrap_model(self.model).state_dict()
        return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}

    def save(self, state: dict[str, torch.Tensor], output_dir: Path, record: dict[str, Any]) -> None:
        """Write weights, tokenizer and record beside the target, then rename: the model lists (which show any
        folder with a config.json) never see a half-written model."""
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(state)
        partial = output_dir.with_name(f".{output_dir.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        self.tokenizer.save_pretrained(partial)
        (partial / RECORD_FILE).write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
        partial.rename(output_dir)


def _check_output_dir(output_dir: Path) -> None:
    if output_dir.exists() and any(output_dir.iterdir()):
        raise InputError(
            "output_exists",
            "'{path}' already exists and is not empty; choose another name or folder.",
            path=str(output_dir),
        )


def finetune(
    entry: ModelEntry,
    rows: LabelledRows,
    output_dir: Path,
    settings: FinetuneSettings = FinetuneSettings(),
    on_progress: Progress = lambda event: None,
    stop: threading.Event | None = None,
) -> FinetuneResult:
    """Train `entry` to predict `rows`' labels, evaluating each epoch, and save the best epoch to `output_dir`.

    Setting `stop` ends the current epoch early; that partial epoch is evaluated like the others and the
    best weights so far are saved, so stopping never throws the training away.
    """
    limits = get_settings()
    settings = settings.checked(limits.max_finetune_epochs)
    output_dir = Path(output_dir)
    _check_output_dir(output_dir)
    rows = capped(rows, limits.max_finetune_rows, settings.seed)
    check_trainable(rows, settings.validation_fraction)
    split = split_rows(rows.labels, settings.validation_fraction, settings.seed)
    training = _Training(entry, rows, label_order(entry, rows.labels), split, settings)
    stop = stop or threading.Event()
    epochs: list[EpochResult] = []
    best, best_state, since_best, stopped_by = None, None, 0, "finished"
    for epoch in range(settings.epochs):
        started = time.perf_counter()
        losses = training.train_epoch(epoch, on_progress, stop)
        result = training.epoch_result(epoch + len(losses) / training.steps_per_epoch, losses, started)
        epochs.append(result)
        on_progress(result)
        if best is None or result.beats(best):
            best, best_state, since_best = result, training.weights(), 0
        else:
            since_best += 1
        if stop.is_set():
            stopped_by = "user"
            break
        if settings.patience and since_best >= settings.patience:
            stopped_by = "early_stopping"
            break
    outcome = FinetuneResult(
        output_dir=output_dir,
        base_model=entry.model,
        label_names=training.names,
        epochs=epochs,
        best=best,
        stopped_by=stopped_by,
        train_rows=len(split[0]),
        validation_rows=len(split[1]),
        settings=settings,
    )
    training.save(best_state, output_dir, _record(outcome))
    return outcome


def _record(result: FinetuneResult) -> dict[str, Any]:
    return {
        "base_model": result.base_model,
        "label_names": result.label_names,
        "settings": asdict(result.settings),
        "epochs": [asdict(epoch) for epoch in result.epochs],
        "best_epoch": result.best.epoch,
        "stopped_by": result.stopped_by,
        "train_rows": result.train_rows,
        "validation_rows": result.validation_rows,
    }
