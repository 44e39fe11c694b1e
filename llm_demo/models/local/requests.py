"""One streamed generation as the engine sees it: prompt ids, settings, its own random stream, and the queue
its reader takes new token ids (or, while it waits for room in the batch, its place in line) from."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ..types import GenerationSettings


@dataclass(eq=False)
class Request:
    """One generation: its prompt and settings, and the queue its updates are handed out on."""

    ids: list[int]
    settings: GenerationSettings
    generator: torch.Generator  # its own random stream: a seed reproduces the text whoever shares the batch
    tokens: queue.Queue = field(default_factory=queue.Queue)  # new ids, places in line, then None or the error
    cancelled: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)  # its last update (None or the error) is out
    arrived: float = field(default_factory=time.monotonic)
    produced: int = 0
    place: int = 0  # its place in line while it waits (1: next), as its reader was last told
    pace: float = 0.0  # seconds its reader leaves between two updates (set by the scheduler; see `updates`)

    @property
    def need(self) -> int:
        """The most tokens its row will hold: the prompt, and every new token but the last."""
        return len(self.ids) + self.settings.max_new_tokens

    @property
    def done(self) -> bool:
        """Its stream has ended: its last token (end token or max_new_tokens), its error, or it left the line."""
        return self.ended.is_set()

    @property
    def finished(self) -> bool:
        return self.done or self.cancelled.is_set()

    def cancel(self) -> None:
        """Leave the batch, or the line, at the next step (Stop pressed, client gone, stop string seen)."""
        self.cancelled.set()

    def end(self, error: BaseException | None = None) -> None:
        """Hand out the last update: the end of the stream, or the error that ended it."""
        self.tokens.put(error)
        self.ended.set()

    def wait_at(self, place: int) -> None:
        """Tell the reader its place in line, when it changed."""
        if place != self.place:
            self.place = place
            self.tokens.put(place)

    def updates(self) -> Iterator[list[int] | int]:
        """New token ids as they come (all that piled up, at once), or the place in line while the request
        waits; ends with the request, and raises what ended it.

        Each update costs the app's event loop and its reader's thread some CPU, taken from the model on a
        small machine, so updates come at most every `pace` seconds: the first token at once, then the
        tokens of a few steps together when many rows share the batch; the end, at once."""
        shown = 0.0
        while True:
            self.ended.wait(max(0.0, shown + self.pace - time.monotonic()))
            pieces = [self.tokens.get()]
            while pieces[-1] is not None and not isinstance(pieces[-1], BaseException) and not self.tokens.empty():
                pieces.append(self.tokens.get_nowait())
            if isinstance(pieces[-1], BaseException):
                raise pieces[-1]
            ids = [token for piece in pieces if isinstance(piece, list) for token in piece]
            places = [piece for piece in pieces if isinstance(piece, int)]
            if ids or places:
                shown = time.monotonic() if ids else shown
                yield ids or places[-1]
            if pieces[-1] is None:
                return
