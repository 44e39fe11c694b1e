"""Word substitutions proposed by the gradient (HotFlip, Ebrahimi et al. 2018): replacing token x_i by vocabulary
word w changes another label's logit, less the predicted one's, by about (e_w - e_i) . grad_i, so one backward
pass per other label ranks every word of the vocabulary at every position. Only candidates: the task runs them.
"""

from __future__ import annotations

import torch

from ...text import HAN
from ..types import Substitution
from .classify import label_names
from .inside import encode_whole
from .loaded import LoadedModel
from .threads import on_batch_thread

MAX_TARGETS = 3  # other labels aimed at, the likeliest first: a backward pass each
WORD_START_MARKS = ("▁", "Ġ")  # SentencePiece's and byte-level BPE's "a word starts here"


def _is_word(token: str, word: str, wordpiece: bool) -> bool:
    """A vocabulary entry that reads as a whole word on its own: letters, starting a word (or Chinese characters,
    which stand on their own), two letters at least."""
    if not word.isalpha():
        return False
    if all(HAN.match(character) for character in word):
        return True
    starts = not token.startswith("##") if wordpiece else token.startswith(WORD_START_MARKS)
    return starts and len(word) >= 2


def vocabulary_words(tokenizer) -> tuple[list[int], list[str]]:
    """The vocabulary's ids that are real words, and how each reads: what a substitution may put in."""
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    wordpiece = any(token.startswith("##") for token, _ in vocabulary)  # BERT marks continuations instead
    special = set(tokenizer.all_special_ids)
    decoded = tokenizer.batch_decode([[index] for _, index in vocabulary])
    kept = [
        (index, word.strip())
        for (token, index), word in zip(vocabulary, decoded, strict=True)
        if index not in special and _is_word(token, word.strip(), wordpiece)
    ]
    return [index for index, _ in kept], [word for _, word in kept]


def _gradients(loaded: LoadedModel, ids: list[int], vocabulary_ids: list[int]):
    """The other labels aimed at, d(logit_other - logit_predicted)/d embedding for each (targets, T, D), the
    text's embeddings (T, D) and the vocabulary words' (V, D), all float32 on the CPU."""
    table = loaded.model.get_input_embeddings()
    with torch.no_grad():
        embeds = table(torch.tensor([ids], device=loaded.device))
        vocabulary = table.weight[torch.tensor(vocabulary_ids, device=table.weight.device)].float().cpu()
    embeds.requires_grad_(True)
    with torch.enable_grad():
        logits = loaded.model(inputs_embeds=embeds).logits[0].float()
        order = logits.argsort(descending=True).tolist()
        others = order[1 : 1 + MAX_TARGETS]
        if not others:
            return [], None, None, None
        gradients = [
            torch.autograd.grad(logits[other] - logits[order[0]], embeds, retain_graph=True)[0][0] for other in others
        ]
    return others, torch.stack(gradients).float().cpu(), embeds[0].detach().float().cpu(), vocabulary


def substitutions(loaded: LoadedModel, text: str, words: list[tuple[int, int]], per_word: int) -> list[Substitution]:
    """Up to `per_word` replacements of each word, ranked by first-order gain over every other label; the most
    promising first. A word of several tokens is replaced whole: its first token's gradient scores the new
    word, and the gain counts the other tokens as removed."""
    encoded = encode_whole(loaded, [text], loaded.token_limit, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"][0], encoded["offset_mapping"][0]
    vocabulary_ids, vocabulary = vocabulary_words(loaded.tokenizer)
    others, gradients, embeds, table = on_batch_thread(lambda: _gradients(loaded, ids, vocabulary_ids))
    if not others:  # a model of one label has nothing to flip to
        return []
    names = label_names(loaded)
    spelled: dict[str, list[int]] = {}  # each word as it reads, folded, to its vocabulary positions
    for i, word in enumerate(vocabulary):
        spelled.setdefault(word.casefold(), []).append(i)
    found = []
    for start, end in words:
        positions = [p for p, (first, last) in enumerate(offsets) if last > first and start <= first < end]
        if not positions:
            continue
        removed = (embeds[positions] * gradients[:, positions]).sum(dim=(1, 2))  # (targets,)
        gains = gradients[:, positions[0]] @ table.T - removed[:, None]  # (targets, V)
        best, target = gains.max(dim=0)
        best[spelled.get(text[start:end].casefold(), [])] = -torch.inf  # not the word it replaces
        top = best.topk(min(per_word, len(vocabulary)))
        found += [
            Substitution(start, end, vocabulary[i], names[others[int(target[i])]], float(gain))
            for gain, i in zip(top.values.tolist(), top.indices.tolist())
            if gain > -torch.inf
        ]
    return sorted(found, key=lambda substitution: -substitution.gain)
