"""Model: the operations tasks call, the same whether the weights are in this process or behind a server.

After lm-evaluation-harness's `LM`, which its evaluator calls without asking whether it holds HFLM or an API
model: the kind is decided once, where an entry becomes a model (models/__init__.py), and nothing above
asks again. Operations that feed an evaluation return Batches, (input indices, results) as batches finish,
so that a run can show progress and stop early; tasks put them in input order. An operation a kind of model
cannot do fails with a message that says so.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import ModelError
from .types import (
    DEFAULT_HYPOTHESIS,
    AttentionMaps,
    Attribution,
    Batches,
    Filler,
    GenerationSettings,
    Message,
    QASettings,
    ScoredText,
    SequenceSalience,
    Substitution,
    TranslationSettings,
)


class Model:
    """A model a task can use. Subclasses set the attributes and implement the operations their kind can do."""

    model_id: str  # the Hub id or folder, or the name a server serves it under
    kind: str  # what it was loaded as: registry.KIND_OF_TASK's values
    token_limit: int  # the most tokens it reads at once
    load_seconds: float  # to load the weights, or to reach the server and find the model there

    @property
    def placement(self) -> str:
        """Where it runs, as timings and reports show it: 'cpu · float32', or the server's address."""
        raise NotImplementedError

    def status(self) -> tuple[str, dict[str, object]]:
        """The status line under a tab, as a message key and its values (the UI says it in the reader's language)."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def labels(self) -> list[str]:
        """Class names in class-id order; empty where the model does not say."""
        return []

    @property
    def can_zero_shot(self) -> bool:
        """Whether it can score labels it was never trained on (the user's own)."""
        return False

    @property
    def has_chat_template(self) -> bool:
        return False

    def _cannot(self, what: str) -> ModelError:
        return ModelError("cannot_do", "'{model}' cannot do {what} where it runs.", model=self.model_id, what=what)

    # --- classification

    def classify(self, texts: list[str], budget: int | None = None) -> Batches:
        """Every label's score for each text (Classification)."""
        raise self._cannot("text classification")

    def zero_shot(
        self,
        texts: list[str],
        labels: list[str],
        multi_label: bool = False,
        hypothesis: str = DEFAULT_HYPOTHESIS,
        budget: int | None = None,
    ) -> Batches:
        """The user's labels scored against each text (Classification)."""
        raise self._cannot("zero-shot classification")

    # --- translation and question answering

    def translate(self, texts: list[str], settings: TranslationSettings, budget: int | None = None) -> Batches:
        """Each text translated whole, line breaks kept (str)."""
        raise self._cannot("translation")

    def answer(
        self, questions: list[str], contexts: list[str], settings: QASettings, budget: int | None = None
    ) -> Batches:
        """The best answers to each question from its context (list[Answer])."""
        raise self._cannot("question answering")

    # --- generation

    def generate(self, prompts: list[str], settings: GenerationSettings, budget: int | None = None) -> Batches:
        """Each prompt's reply, whole (str)."""
        raise self._cannot("text generation")

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        """The reply so far each time new text arrives; closing the iterator stops generation."""
        raise self._cannot("text generation")

    def stream_chat(self, messages: list[Message], settings: GenerationSettings) -> Iterator[str]:
        """The assistant's next turn of a conversation, streamed as `stream` does."""
        raise self._cannot("chat")

    def respond(self, conversations: list[list[Message]], settings: GenerationSettings) -> Batches:
        """Each conversation's next assistant turn, whole (str), batches in the order they finish; a row the
        model cannot answer (too long for its window, a server that gave up) comes back as its error.
        A model without a chat template continues the turns' texts, one paragraph each."""
        raise self._cannot("text generation")

    def continuation_logprobs(self, messages: list[Message], reply_start: str, continuations: list[str]) -> list[float]:
        """log p(continuation | conversation, the assistant's reply so far) for each continuation: how likely
        the model was to go on with each, as a judge's score is read from its probabilities (G-Eval)."""
        raise self._cannot("scoring text")

    def fit_to_window(self, prompt: str, settings: GenerationSettings) -> GenerationSettings:
        """The settings a prompt will really run with (new tokens cut to what the window holds)."""
        return settings

    def token_logprobs(self, texts: list[str], budget: int | None = None) -> Batches:
        """log p(token | tokens before it) for each text, cut to the window (TokenLogProbs)."""
        raise self._cannot("scoring text")

    def scored_text(self, text: str) -> ScoredText:
        """One whole text scored token by token, with each token's place in it."""
        raise self._cannot("scoring text")

    def count_chat_tokens(self, messages: list[Message]) -> int:
        """Tokens of a conversation through the chat template, ready for the reply."""
        raise self._cannot("chat")

    def count_tokens(self, text: str) -> int:
        """Tokens of a text alone, without special tokens."""
        raise self._cannot("counting tokens")

    # --- views that need the weights

    @property
    def mask_token(self) -> str | None:
        return None

    def attention(self, texts: list[str], max_tokens: int, budget: int | None = None) -> list[AttentionMaps]:
        raise self._cannot("attention maps")

    def fill_mask(self, texts: list[str], top_k: int, budget: int | None = None) -> list[list[Filler]]:
        raise self._cannot("masked-word prediction")

    def explain(self, text: str, steps: int, budget: int | None = None) -> Attribution:
        raise self._cannot("attributions")

    def substitutions(self, text: str, words: list[tuple[int, int]], per_word: int) -> list[Substitution]:
        """Up to `per_word` replacements of each word (its characters in `text`) by one vocabulary word, the most
        promising first by the gradient toward another label (HotFlip); the caller runs them to see which flip."""
        raise self._cannot("word substitutions by gradient")

    def salience(self, prompt: str, answer: str, span: tuple[int, int]) -> SequenceSalience:
        """How much each token of the prompt (and of the answer before the span) moved the log-probability of
        the answer's characters `span` (gradient x input)."""
        raise self._cannot("sequence salience")
