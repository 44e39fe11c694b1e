"""What crosses the seam between tasks and models: settings going in, results coming out.

Both kinds of model (weights in this process, or a server) build these, and tasks read them, so this module
imports nothing of either side: no module can import one that imports it back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from ..errors import InputError, UserFacingError
from ..inputs import check_length, check_range

Result = TypeVar("Result")
Batches = Iterator[tuple[list[int], list[Any]]]  # (input indices, their results), batch by batch
Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": text}, the OpenAI chat schema
DEFAULT_HYPOTHESIS = "This example is {}."  # how an NLI model reads a candidate label


def in_input_order(count: int, batches: Iterable[tuple[list[int], list[Result]]]) -> list[Result]:
    """Put batched results back in the order the inputs came. A served model hands back a failed row as its
    error, so that an evaluation keeps the rest; for a one-off request that error is what the user sees."""
    results: list[Any] = [None] * count
    for indices, batch in batches:
        failure = next((result for result in batch if isinstance(result, UserFacingError)), None)
        if failure is not None:
            getattr(batches, "close", lambda: None)()
            raise failure
        for index, result in zip(indices, batch, strict=True):
            results[index] = result
    return results


# --- classification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class Classification:
    """Every label's score, best first; `label` and `score` are the top one."""

    scores: list[LabelScore]

    @property
    def label(self) -> str:
        return self.scores[0].label

    @property
    def score(self) -> float:
        return self.scores[0].score


# --- question answering -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A span of the context; an empty `text` with start == end == 0 means "no answer"."""

    text: str
    score: float
    start: int
    end: int

    @property
    def is_empty(self) -> bool:
        return not self.text


@dataclass(frozen=True)
class QASettings:
    top_k: int = 1
    max_answer_tokens: int = 30
    max_length: int = 384  # tokens per window, question included
    stride: int = 128  # tokens shared by neighbouring windows
    allow_no_answer: bool = False  # SQuAD2-style models may say the context has no answer


# --- translation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationSettings:
    num_beams: int = 4
    max_new_tokens: int = 256
    source_lang: str | None = None  # NLLB/M2M100 language code, e.g. "zho_Hans"
    target_lang: str | None = None  # e.g. "eng_Latn"


# --- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    seed: int | None = None
    system_prompt: str | None = None
    stop: tuple[str, ...] = ()  # the reply ends before the first of these strings

    def checked(self) -> GenerationSettings:
        """Refuse absurd values with a message rather than letting generate() fail or hang."""
        check_range("Max new tokens", self.max_new_tokens, 1, 4096)
        check_range("Temperature", self.temperature, 0, 5)
        check_range("Top-p", self.top_p, 0.01, 1)
        check_range("Repetition penalty", self.repetition_penalty, 0.5, 3)
        if self.seed is not None:
            check_range("Seed", self.seed, 0, 2**32 - 1)
        if self.system_prompt:
            check_length(self.system_prompt, "system prompt")
        if any(not isinstance(word, str) or not word for word in self.stop):
            raise InputError("bad_stop", "Stop strings must be non-empty text.")
        return self


class Waiting(str):
    """What a stream yields while its request waits for room in the model's batch: no text yet (an empty
    string, which any reader of the stream may show as it is) and the request's place in line (1: next)."""

    place: int

    def __new__(cls, place: int) -> Waiting:
        waiting = super().__new__(cls, "")
        waiting.place = place
        return waiting


def whole_reply(texts: Iterator[str]) -> str:
    """The whole reply of a stream, which yields the text so far: its last piece."""
    last = deque(texts, maxlen=1)
    return last[0] if last else ""


def as_plain_text(messages: list[Message]) -> str:
    """A conversation for a model without a chat template to continue: the turns' texts, a paragraph each."""
    return "\n\n".join(message["content"] for message in messages)


def as_messages(prompt: str, system_prompt: str | None = None) -> list[Message]:
    """One user turn, after the system prompt when there is one."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


@dataclass(frozen=True)
class TokenLogProbs:
    """log p(token | tokens before it) for every token after the first."""

    tokens: list[str]
    logprobs: list[float]

    @property
    def total(self) -> float:
        return sum(self.logprobs)


@dataclass(frozen=True)
class ScoredText:
    """One whole text scored token by token, with where each token sits in it."""

    logprobs: TokenLogProbs
    offsets: list[tuple[int, int]]  # every token's characters; the first len(offsets) - len(logprobs) are unscored


# --- inside the model (weights in this process) -------------------------------------------------


@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights of one text; row i of a map is how token i (the query) attends to every token."""

    tokens: list[str]
    weights: torch.Tensor  # (layers, heads, tokens, tokens), each row sums to 1

    @property
    def layers(self) -> int:
        return self.weights.shape[0]

    @property
    def heads(self) -> int:
        return self.weights.shape[1]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """One head's (tokens, tokens) map; layer and head count from 0."""
        return self.weights[layer, head]

    def mean_over_heads(self, layer: int) -> torch.Tensor:
        return self.weights[layer].mean(dim=0)


@dataclass(frozen=True)
class Filler:
    """One candidate for the masked position."""

    token: str  # the vocabulary entry, e.g. "##ing" or "▁Paris"; distinct between candidates
    word: str  # how the token reads in text
    probability: float
    text: str  # the sentence with this candidate in place of the mask


@dataclass(frozen=True)
class Span:
    """A piece of the text and its score; None for text no token scored (spaces, an unscored first token)."""

    text: str
    score: float | None


def _plus(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def spans(text: str, offsets: list[tuple[int, int]], scores: list[float | None]) -> list[Span]:
    """Cut the text at token boundaries, each piece carrying its token's score; the pieces join back to the text.

    Tokens sharing characters (byte-level tokens of one Chinese character) become one piece with their scores
    summed: log-probabilities and attributions both add. Special tokens (empty spans) are left out.
    """
    pieces: list[Span] = []
    covered = 0
    for (start, end), score in zip(offsets, scores, strict=True):
        if end <= start:
            continue
        if start < covered and pieces:
            last = pieces.pop()
            pieces.append(Span(last.text + text[covered : max(end, covered)], _plus(last.score, score)))
        else:
            start = max(start, covered)
            if start > covered:
                pieces.append(Span(text[covered:start], None))
            pieces.append(Span(text[start:end], score))
        covered = max(covered, end)
    if covered < len(text):
        pieces.append(Span(text[covered:], None))
    return pieces


@dataclass(frozen=True)
class Attribution:
    """How much each token moved the predicted label's logit away from a neutral baseline input."""

    prediction: Classification  # the model's scores for the text; `prediction.label` is the one explained
    tokens: list[str]
    scores: list[float]  # per token; they sum to logit - baseline_logit, up to the integration error
    logit: float
    baseline_logit: float
    spans: list[Span]

    @property
    def completeness_gap(self) -> float:
        """sum(scores) - (logit - baseline_logit): near 0 when the integral was computed finely enough."""
        return sum(self.scores) - (self.logit - self.baseline_logit)


@dataclass(frozen=True)
class Substitution:
    """One word of a text replaced by a vocabulary word, as the gradient toward another label proposes it (HotFlip):
    a candidate, not yet run through the model."""

    start: int  # the replaced word's characters in the text
    end: int
    word: str  # the vocabulary word put in its place
    toward: str  # the label whose logit, less the predicted one's, the replacement should raise
    gain: float  # that rise to first order: (e_new - e_old) . gradient

    def applied(self, text: str) -> str:
        return text[: self.start] + self.word + text[self.end :]


@dataclass(frozen=True)
class SequenceSalience:
    """Gradient x input of a span of an answer's log-probability, for every token the model read before the span.

    `text` is what the model read: the prompt (inside its chat template, if the model has one), then the answer.
    """

    text: str
    prompt: tuple[int, int]  # where the user's prompt stands in `text`
    answer_start: int  # where the answer starts in `text`
    target: tuple[int, int]  # the span's characters in `text`
    offsets: list[tuple[int, int]]  # each token read before the span, in `text`
    scores: list[float]  # each of those tokens' gradient . embedding
    target_tokens: int
    target_logprob: float  # log p(span's tokens | everything before them)
    cut_tokens: int  # tokens of the start that did not fit the model's window, left out
