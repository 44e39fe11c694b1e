"""Scores laid over a text, token by token: which tokens a classifier's label rests on (integrated gradients),
and how surprising each token is to a causal language model (its log-probability)."""

from __future__ import annotations

from dataclasses import dataclass

from ..inputs import check_range
from ..models import Model
from ..models.types import Attribution, Span, TokenLogProbs, spans
from .generation import perplexity

__all__ = ["Attribution", "Span", "Surprise", "explain", "spans", "surprise"]


def explain(model: Model, text: str, steps: int = 50, budget: int | None = None) -> Attribution:
    """Integrated gradients of the predicted label's logit with respect to the input embeddings.

    Token i's score is (x_i - x'_i) . integral_0^1 dF(x' + a (x - x'))/dx_i da, where x are the text's word
    embeddings and x' the baseline's (every ordinary token replaced by padding); the scores then add up to
    F(x) - F(x') (completeness). The integral is taken by Gauss-Legendre quadrature with `steps` points.
    """
    return model.explain(text, int(check_range("Integration steps", steps, 4, 256)), budget)


@dataclass(frozen=True)
class Surprise:
    """A text's per-token log-probabilities under a causal LM, laid over the text, and its perplexity."""

    logprobs: TokenLogProbs
    perplexity: float
    spans: list[Span]  # score: log-probability of the piece (None for a first token nothing predicts)


def surprise(model: Model, text: str) -> Surprise:
    """How probable the model finds each token of the text, given the tokens before it."""
    scored = model.scored_text(text)
    unscored = len(scored.offsets) - len(scored.logprobs.logprobs)  # a first token nothing predicts
    scores = [None] * unscored + scored.logprobs.logprobs
    return Surprise(scored.logprobs, perplexity([scored.logprobs]), spans(text, scored.offsets, scores))
