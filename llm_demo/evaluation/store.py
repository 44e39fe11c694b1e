"""A run's folder: predictions.csv, appended window by window as rows finish, and state.json, the small
record from which a stopped run continues (run.Evaluation decides what goes in it).

The state is written after the rows it counts and replaces the old one whole, so a run stopped at any
moment, by a kill -9 too, leaves a state that matches a prefix of predictions.csv; continuing cuts off
whatever was written after that prefix and goes on from the next row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..safe_csv import csv_text

PREDICTIONS, STATE, METRICS = "predictions.csv", "state.json", "metrics.json"
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a write through a link left in the folder fails instead (not on Windows)


class RunFolder:
    """predictions.csv (UTF-8 with a byte order mark, so Excel reads Chinese) and state.json of one run."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.predictions = self.folder / PREDICTIONS
        self.state_path = self.folder / STATE
        self.metrics = self.folder / METRICS

    def saved_state(self) -> dict | None:
        """The state of the run last stopped or finished here; None when there is none."""
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def start(self, header: list[str]) -> None:
        """A fresh run: predictions.csv holds only the header; an older run's files go."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in (self.state_path, self.metrics):
            stale.unlink(missing_ok=True)
        os.close(_create(self.predictions))
        self._write("\ufeff" + csv_text([header]))

    def continue_from(self, state: dict) -> None:
        """Cut predictions.csv back to the rows the state counts (a run killed while writing wrote more)."""
        try:
            descriptor = os.open(self.predictions, os.O_WRONLY | NO_FOLLOW)
        except FileNotFoundError:
            descriptor = None
        try:
            if descriptor is None or os.fstat(descriptor).st_size < state["predictions_bytes"]:
                raise InputError(
                    "resume_mismatch",
                    "'{folder}' does not hold the predictions its state.json counts; run without resuming to start "
                    "over.",
                    folder=str(self.folder),
                )
            os.ftruncate(descriptor, state["predictions_bytes"])
        finally:
            if descriptor is not None:
                os.close(descriptor)

    def append(self, rows: list[list[Any]]) -> None:
        """Add rows at the end of predictions.csv in one write, formulas escaped."""
        self._write(csv_text(rows))

    def commit(self, state: dict) -> None:
        """Record the state of the rows written so far: after them, on disk, replacing the old state whole."""
        state["predictions_bytes"] = os.lstat(self.predictions).st_size
        write_file(self.state_path, json.dumps(state, ensure_ascii=False))

    def _write(self, text: str) -> None:
        descriptor = os.open(self.predictions, os.O_WRONLY | os.O_APPEND | NO_FOLLOW)
        try:
            _write_all(descriptor, text)
        finally:
            os.close(descriptor)


def write_file(path: str | Path, text: str) -> None:
    """Replace a file of the run's folder whole: written under a name of its own, then moved in place, never
    through a link; a reader sees the old file or the new one, and a crash leaves no half-written one."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = _create(temporary)
    try:
        _write_all(descriptor, text)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)  # replaces a link itself, not what it points to


def _create(path: Path) -> int:
    """A descriptor of a new, empty file at `path` for writing; whatever was there (a link too) goes first."""
    path.unlink(missing_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o666)


def _write_all(descriptor: int, text: str) -> None:
    data = memoryview(text.encode("utf-8"))
    while data:
        data = data[os.write(descriptor, data) :]
    os.fsync(descriptor)  # the rows are on disk before a state counts them
