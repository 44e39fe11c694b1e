"""The same input through several models, with each one's timing: streams side by side, or one-shot tasks in turn."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ModelProgress:
    """One model's answer so far and its figures; figures that need the whole answer come when `done`."""

    text: str = ""
    first_token_s: float | None = None  # from the start of the comparison to the first text of a stream
    seconds: float | None = None  # from the start to the last text
    tokens: int | None = None  # tokens in the finished answer, when they mean something for the task
    done: bool = False
    error: Exception | None = None

    @property
    def tokens_per_second(self) -> float | None:
        """End-to-end speed: tokens over the whole time, waiting for a turn included, as a user lives it."""
        if self.tokens is None or not self.seconds:
            return None
        return self.tokens / self.seconds


def _finished(progress: ModelProgress, started: float, count: TokenCounter | None) -> ModelProgress:
    seconds = time.perf_counter() - started
    return replace(
        progress, done=True, seconds=seconds, tokens=count(progress.text) if count and progress.error is None else None
    )


def side_by_side(
    streams: Sequence[Callable[[], Iterator[str]]], counters: Sequence[TokenCounter | None]
) -> Iterator[list[ModelProgress]]:
    """Run every stream at once, each read by its own thread, and yield everyone's progress at each new text.

    Closing this iterator (Stop) closes every stream, which stops its generation.
    """
    started = time.perf_counter()
    updates: queue.Queue[tuple[int, str | None, Exception | None]] = queue.Queue()
    stop = threading.Event()

    def read(index: int, start: Callable[[], Iterator[str]]) -> None:
        try:
            replies = start()
            try:
                for text in replies:
                    updates.put((index, text, None))
                    if stop.is_set():
                        break
            finally:
                getattr(replies, "close", lambda: None)()
        except Exception as error:  # noqa: BLE001 - shown in that model's column, the others go on
            updates.put((index, None, error))
        updates.put((index, None, None))

    progress = [ModelProgress() for _ in streams]
    for index, start in enumerate(streams):
        threading.Thread(target=read, args=(index, start), daemon=True, name=f"llm_demo-compare-{index}").start()
    try:
        while not all(item.done for item in progress):
            index, text, error = updates.get()
            if error is not None:
                progress[index] = replace(progress[index], error=error)
            elif text is None:
                progress[index] = _finished(progress[index], started, counters[index])
            else:
                first = progress[index].first_token_s
                progress[index] = replace(
                    progress[index],
                    text=text,
                    first_token_s=first if first is not None or not text else time.perf_counter() - started,
                )
            yield list(progress)
    finally:
        stop.set()


def one_by_one(
    calls: Sequence[Callable[[], str]], counters: Sequence[TokenCounter | None]
) -> Iterator[list[ModelProgress]]:
    """Run one-shot tasks (translation, classification) in turn, on this thread, each timed from its own start:
    they use every core each, so running them at once would only slow each down."""
    progress = [ModelProgress() for _ in calls]
    for index, call in enumerate(calls):
        started = time.perf_counter()
        try:
            progress[index] = ModelProgress(text=call())
        except Exception as error:  # noqa: BLE001 - shown in that model's column, the others go on
            progress[index] = ModelProgress(error=error)
        progress[index] = _finished(progress[index], started, counters[index])
        yield list(progress)
