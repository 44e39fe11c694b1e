"""Translation with sequence-to-sequence weights here (Marian pairs; NLLB and M2M100 with language codes).

Long input is cut into sentences so that no piece exceeds the model's window; the sentences of all texts are
translated together in length-sorted batches, and each text comes back whole, its line breaks kept, as soon
as its last sentence is done, so progress and cancelling work per text.
"""

from __future__ import annotations

import threading
from collections import Counter

import torch

from ...errors import InputError
from ...text import join_sentences, split_sentences
from ..types import Batches, TranslationSettings
from .batching import default_budget, pad, run_in_batches
from .loaded import LoadedModel


def _language_token(loaded: LoadedModel, code: str) -> int:
    token_id = loaded.tokenizer.convert_tokens_to_ids(code)
    if token_id is None or token_id == loaded.tokenizer.unk_token_id:
        raise InputError("unknown_language", "'{code}' is not a language code this model knows.", code=code)
    return token_id


def generation_options(loaded: LoadedModel, settings: TranslationSettings) -> dict:
    options = {"num_beams": settings.num_beams, "max_new_tokens": loaded.cap_new_tokens(settings.max_new_tokens)}
    if settings.target_lang:
        options["forced_bos_token_id"] = _language_token(loaded, settings.target_lang)
    return options


# NLLB/M2M100 tokenizers prefix the source language token, which they keep as state (src_lang) of the one
# cached tokenizer every visitor shares: setting it and encoding are one step, so that two people translating
# from different languages at once never encode with each other's language.
_SOURCE_LANGUAGE = threading.Lock()


def encode(loaded: LoadedModel, sentences: list[str], settings: TranslationSettings) -> list[list[int]]:
    tokenizer = loaded.tokenizer
    if settings.source_lang:
        _language_token(loaded, settings.source_lang)
    with _SOURCE_LANGUAGE:
        if settings.source_lang:
            tokenizer.src_lang = settings.source_lang
        return tokenizer(sentences, truncation=True, max_length=loaded.token_limit)["input_ids"]


def translate_sentences(
    loaded: LoadedModel, sentences: list[str], settings: TranslationSettings, budget: int | None = None
) -> Batches:
    """Translate sentences batch by batch: (sentence indices, translations)."""
    options = generation_options(loaded, settings)
    token_ids = encode(loaded, sentences, settings)

    def process(batch: list[list[int]]) -> list[str]:
        input_ids, attention_mask = pad(batch, loaded.tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device), **options
            )
        return [text.strip() for text in loaded.tokenizer.batch_decode(output, skip_special_tokens=True)]

    # Generation costs grow with beams and output length too, so the budget counts beams.
    budget = (budget or default_budget(loaded.device)) // max(1, settings.num_beams)
    return run_in_batches(token_ids, [len(ids) for ids in token_ids], process, max(budget, 64))


def translate(
    loaded: LoadedModel, texts: list[str], settings: TranslationSettings, budget: int | None = None
) -> Batches:
    """Translate whole texts sentence by sentence, yielding each text once all its sentences are done."""
    structure = [split_sentences(text) for text in texts]
    owner = [row for row, lines in enumerate(structure) for line in lines for _ in line]  # sentence -> text
    first: dict[int, int] = {}  # text -> its first sentence; a text's sentences are contiguous
    for sentence, row in enumerate(owner):
        first.setdefault(row, sentence)
    empty = [row for row, lines in enumerate(structure) if row not in first]  # no sentence: nothing to translate
    if empty:
        yield empty, ["\n" * (len(structure[row]) - 1) for row in empty]
    remaining = Counter(owner)
    translated: dict[int, str] = {}

    def reassemble(row: int) -> str:
        pieces = (translated[i] for i in range(first[row], len(owner)))
        return "\n".join(join_sentences([next(pieces) for _ in line]) for line in structure[row])

    sentences = [sentence for lines in structure for line in lines for sentence in line]
    if not sentences:
        return
    for indices, batch in translate_sentences(loaded, sentences, settings, budget):
        translated.update(zip(indices, batch))
        remaining.subtract(owner[i] for i in indices)
        finished = list(dict.fromkeys(owner[i] for i in indices if remaining[owner[i]] == 0))
        yield finished, [reassemble(row) for row in finished]
