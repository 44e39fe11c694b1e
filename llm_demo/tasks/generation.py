"""Text generation: streamed for the UI, batched for evaluation, and the per-token log-probabilities behind
perplexity."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..errors import ModelError
from ..models import Model
from ..models.types import GenerationSettings, Message, TokenLogProbs, Waiting, as_messages, in_input_order

__all__ = [
    "GenerationSettings",
    "Message",
    "TokenLogProbs",
    "Waiting",
    "as_messages",
    "fit_to_window",
    "generate",
    "perplexity",
    "stream",
    "stream_chat",
    "token_logprobs",
]


def fit_to_window(model: Model, prompt: str, settings: GenerationSettings) -> GenerationSettings:
    """The settings a prompt will really run with: the UI compares them to what the user asked, to say so."""
    return model.fit_to_window(prompt, settings)


def stream(model: Model, prompt: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
    """Yield the reply so far each time new tokens arrive; closing the iterator stops generation."""
    return model.stream(prompt, settings.checked())


def stream_chat(
    model: Model, messages: list[Message], settings: GenerationSettings = GenerationSettings()
) -> Iterator[str]:
    """Stream the assistant's next turn of a conversation (`settings.system_prompt` is not used: the
    conversation carries its own system message)."""
    return model.stream_chat(messages, settings.checked())


def generate(
    model: Model, prompts: list[str], settings: GenerationSettings = GenerationSettings(), budget: int | None = None
) -> list[str]:
    """Complete many prompts at once, in input order."""
    return in_input_order(len(prompts), model.generate(prompts, settings.checked(), budget))


def token_logprobs(model: Model, texts: list[str], budget: int | None = None) -> list[TokenLogProbs]:
    """Per-token log-probabilities of each text, cut to the model's window."""
    return in_input_order(len(texts), model.token_logprobs(texts, budget))


def perplexity(results: list[TokenLogProbs]) -> float:
    """Token-weighted perplexity over texts: exp of the mean negative log-likelihood per token."""
    count = sum(len(result.logprobs) for result in results)
    if count == 0:
        raise ModelError("too_short", "The texts are too short to measure perplexity (one token each).")
    return math.exp(-sum(result.total for result in results) / count)
