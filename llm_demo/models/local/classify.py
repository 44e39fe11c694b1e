"""Classification with the weights here: a fine-tuned head's fixed labels, and zero-shot with the user's labels
through a natural-language-inference model (each label as a hypothesis about the text)."""

from __future__ import annotations

import torch

from ...errors import ModelError
from ..types import DEFAULT_HYPOTHESIS, Batches, Classification, LabelScore
from .batching import default_budget, encoder_inputs, run_in_batches
from .loaded import LoadedModel


def label_names(loaded: LoadedModel) -> list[str]:
    """Label names in class-id order, as the model's config states them."""
    id2label = loaded.model.config.id2label
    return [str(id2label[index]) for index in range(len(id2label))]


def encode(loaded: LoadedModel, texts: list[str], pairs: list[str] | None = None) -> list[list[int]]:
    """Tokenize every text once, truncated to what the model can read; no padding yet."""
    encoded = loaded.tokenizer(texts, pairs, truncation=True, max_length=loaded.token_limit)
    return encoded["input_ids"]


def forward_logits(loaded: LoadedModel, batch: list[list[int]]) -> torch.Tensor:
    """Logits (rows, labels) for already tokenized rows, in float32 on the CPU."""
    with torch.inference_mode():
        logits = loaded.model(**encoder_inputs(loaded, batch)).logits
    return logits.float().cpu()


def _probabilities(loaded: LoadedModel, logits: torch.Tensor) -> torch.Tensor:
    if loaded.model.config.problem_type == "multi_label_classification":
        return logits.sigmoid()
    return logits.softmax(dim=-1)


def _ranked(names: list[str], probabilities: torch.Tensor) -> Classification:
    order = probabilities.argsort(descending=True).tolist()
    return Classification([LabelScore(names[i], float(probabilities[i])) for i in order])


def classify(loaded: LoadedModel, texts: list[str], budget: int | None = None) -> Batches:
    """Classify texts batch by batch: (input indices, results) for progress and cancelling."""
    names = label_names(loaded)
    token_ids = encode(loaded, texts)

    def process(batch: list[list[int]]) -> list[Classification]:
        probabilities = _probabilities(loaded, forward_logits(loaded, batch))
        return [_ranked(names, row) for row in probabilities]

    return run_in_batches(token_ids, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device))


# --- zero-shot ------------------------------------------------------------------------------------


def nli_positions(loaded: LoadedModel) -> tuple[int | None, int | None]:
    """Positions of 'entailment' and 'contradiction' among the model's labels, None where absent."""
    lowered = {name.lower(): index for index, name in enumerate(label_names(loaded))}
    entail = next((i for name, i in lowered.items() if name.startswith("entail")), None)
    contra = next((i for name, i in lowered.items() if name.startswith("contra")), None)
    return entail, contra


def nli_indices(loaded: LoadedModel) -> tuple[int, int]:
    entail, contra = nli_positions(loaded)
    if entail is None or contra is None:
        raise ModelError(
            "not_nli",
            "'{model}' is not a natural-language-inference model (its labels are {labels}), "
            "so it cannot do zero-shot classification.",
            model=loaded.model_id,
            labels=", ".join(label_names(loaded)),
        )
    return entail, contra


def zero_shot(
    loaded: LoadedModel,
    texts: list[str],
    labels: list[str],
    multi_label: bool = False,
    hypothesis: str = DEFAULT_HYPOTHESIS,
    budget: int | None = None,
) -> Batches:
    """Score each label as the hypothesis "This example is {label}." against each text as the premise, batch
    by batch. A batch holds whole texts where they fit; a text whose labels overflow the budget is split across
    batches, and its result is yielded, complete, with the batch that scores its last label."""
    entail, contra = nli_indices(loaded)
    hypotheses = [hypothesis.format(label) for label in labels]
    pair_ids = encode(loaded, [t for t in texts for _ in labels], hypotheses * len(texts))  # text by text
    count = len(labels)
    lengths = [len(ids) for ids in pair_ids]
    widest = [max(lengths[i * count : (i + 1) * count]) for i in range(len(texts))]
    by_text = sorted(range(len(texts)), key=lambda i: -widest[i])  # longest texts first, each text's pairs together
    order = [i * count + label for i in by_text for label in range(count)]
    chosen_budget = budget or default_budget(loaded.device)

    def process(batch: list[int]) -> list[torch.Tensor]:
        return list(forward_logits(loaded, [pair_ids[i] for i in batch]))

    def result(logits: torch.Tensor) -> Classification:  # (labels, nli classes) of one text
        if multi_label:
            return _ranked(labels, logits[:, [contra, entail]].softmax(dim=-1)[:, 1])
        return _ranked(labels, logits[:, entail].softmax(dim=-1))

    def batches() -> Batches:
        scored: dict[int, torch.Tensor] = {}  # text -> its labels' logits, (labels, nli classes), filled batch by batch
        left = dict.fromkeys(range(len(texts)), count)  # text -> labels not scored yet
        for pairs, rows in run_in_batches(range(len(pair_ids)), lengths, process, chosen_budget, order=order):
            finished = []
            for pair, row in zip(pairs, rows, strict=True):
                text, label = divmod(pair, count)
                if text not in scored:
                    scored[text] = row.new_empty(count, len(row))
                scored[text][label] = row
                left[text] -= 1
                if not left[text]:
                    finished.append(text)
            yield finished, [result(scored.pop(text)) for text in finished]

    return batches()
