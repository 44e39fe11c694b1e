"""Scores laid over a text, token by token: which tokens a classifier's label rests on (integrated
gradients), and how surprising each token is to a causal language model (its log-probability)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..batching import default_budget, run_in_batches
from ..loading import LoadedModel
from ..remote import RemoteModel, served
from ..threads import on_batch_thread
from .attention import encode_whole
from .classification import Classification, classify, label_names
from .generation import TokenLogProbs, perplexity, token_logprobs
from .inputs import check_range


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
            pieces.append(Span(last.text + text[covered:max(end, covered)], _plus(last.score, score)))
        else:
            start = max(start, covered)
            if start > covered:
                pieces.append(Span(text[covered:start], None))
            pieces.append(Span(text[start:end], score))
        covered = max(covered, end)
    if covered < len(text):
        pieces.append(Span(text[covered:], None))
    return pieces


# --- why this label: integrated gradients ----------------------------------------------------------

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


def _baseline_ids(loaded: LoadedModel, ids: list[int], special: list[int]) -> list[int]:
    """Every ordinary token replaced by padding, special tokens kept: "the same input with no words"."""
    pad_id = loaded.tokenizer.pad_token_id or 0
    return [token if is_special else pad_id for token, is_special in zip(ids, special)]


def _integration_points(steps: int) -> list[tuple[float, float]]:
    """Gauss-Legendre nodes and weights on [0, 1]: exact for polynomials of degree < 2 * steps."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return [(float(node + 1) / 2, float(weight) / 2) for node, weight in zip(nodes, weights)]


def explain(loaded: LoadedModel, text: str, steps: int = 50, budget: int | None = None) -> Attribution:
    """Integrated gradients of the predicted label's logit with respect to the input embeddings.

    Token i's score is (x_i - x'_i) . integral_0^1 dF(x' + a (x - x'))/dx_i da, where x are the text's
    word embeddings and x' the baseline's; the scores then add up to F(x) - F(x') (completeness).
    """
    steps = int(check_range("Integration steps", steps, 4, 256))
    encoded = encode_whole(loaded, [text], loaded.token_limit, return_offsets_mapping=True,
                           return_special_tokens_mask=True)
    ids, offsets = encoded["input_ids"][0], encoded["offset_mapping"][0]
    prediction = classify(loaded, [text])[0]
    target = label_names(loaded).index(prediction.label)
    baseline = _baseline_ids(loaded, ids, encoded["special_tokens_mask"][0])

    def embeddings_and_logits() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            both = loaded.model.get_input_embeddings()(torch.tensor([ids, baseline], device=loaded.device))
            return both, loaded.model(inputs_embeds=both).logits[:, target].float().cpu()

    both, ends = on_batch_thread(embeddings_and_logits)  # (2, T, D) and (2,): the text, the baseline
    text_embeds, baseline_embeds = both[0], both[1]

    def weighted_gradients(points: list[tuple[float, float]]) -> list[torch.Tensor]:
        alphas = torch.tensor([alpha for alpha, _ in points], device=loaded.device, dtype=both.dtype)
        path = (baseline_embeds + alphas[:, None, None] * (text_embeds - baseline_embeds)).requires_grad_(True)
        with torch.enable_grad():
            logits = loaded.model(inputs_embeds=path).logits[:, target]
            gradients = torch.autograd.grad(logits.sum(), path)[0].float().cpu()  # (points, T, D)
        return [weight * gradient for (_, weight), gradient in zip(points, gradients)]

    points = _integration_points(steps)
    batches = run_in_batches(points, [len(ids)] * len(points), weighted_gradients,
                             budget or default_budget(loaded.device))
    integral = torch.stack([gradient for _, results in batches for gradient in results]).sum(dim=0)  # (T, D)
    scores = ((text_embeds - baseline_embeds).float().cpu() * integral).sum(dim=-1).tolist()
    return Attribution(prediction=prediction, tokens=loaded.tokenizer.convert_ids_to_tokens(ids), scores=scores,
                       logit=float(ends[0]), baseline_logit=float(ends[1]), spans=spans(text, offsets, scores))


# --- token surprise ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Surprise:
    """A text's per-token log-probabilities under a causal LM, laid over the text, and its perplexity."""

    logprobs: TokenLogProbs
    perplexity: float
    spans: list[Span]  # score: log-probability of the piece (None for a first token nothing predicts)


def surprise(loaded: LoadedModel, text: str) -> Surprise:
    """How probable the model finds each token of the text, given the tokens before it (on a server: the
    text echoed back scored by /v1/completions)."""
    if isinstance(loaded, RemoteModel):
        result, offsets = served.scored_text(loaded, text)
        return Surprise(logprobs=result, perplexity=perplexity([result]),
                        spans=spans(text, offsets, [None] + result.logprobs))
    encoded = encode_whole(loaded, [text], loaded.token_limit - 1, return_offsets_mapping=True)  # -1: room for BOS
    result = token_logprobs(loaded, [text])[0]
    offsets = encoded["offset_mapping"][0]
    unscored = len(offsets) - len(result.logprobs)  # the first token when the model has no BOS to predict it from
    scores = [None] * unscored + result.logprobs
    return Surprise(logprobs=result, perplexity=perplexity([result]), spans=spans(text, offsets, scores))
