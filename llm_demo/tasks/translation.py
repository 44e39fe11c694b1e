"""Translation with sequence-to-sequence models (Marian pairs; NLLB and M2M100 with language codes).

Long input is cut into sentences so that no piece exceeds the model's window, the sentences of all
inputs are translated together in length-sorted batches, and each text is put back together.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..batching import default_budget, in_input_order, pad, run_in_batches
from ..errors import InputError
from ..loading import LoadedModel
from ..remote import RemoteModel, served

# A sentence ends after . ! ? (followed by space) or after CJK full stops, which need no space.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]")


@dataclass(frozen=True)
class TranslationSettings:
    num_beams: int = 4
    max_new_tokens: int = 256
    source_lang: str | None = None  # NLLB/M2M100 language code, e.g. "zho_Hans"
    target_lang: str | None = None  # e.g. "eng_Latn"


def split_sentences(text: str) -> list[list[str]]:
    """Lines of sentences: line breaks are kept as the author wrote them."""
    return [[part.strip() for part in _SENTENCE_END.split(line) if part.strip()] for line in text.splitlines()]


def join_sentences(sentences: list[str]) -> str:
    """Sentences of one line back into a line; no spaces between CJK sentences."""
    line = ""
    for sentence in sentences:
        needs_space = line and not (_CJK.search(line[-1]) or _CJK.search(sentence[:1]))
        line += (" " if needs_space else "") + sentence
    return line


def _language_token(loaded: LoadedModel, code: str) -> int:
    token_id = loaded.tokenizer.convert_tokens_to_ids(code)
    if token_id is None or token_id == loaded.tokenizer.unk_token_id:
        raise InputError("unknown_language", "'{code}' is not a language code this model knows.", code=code)
    return token_id


def _generation_options(loaded: LoadedModel, settings: TranslationSettings) -> dict:
    options = {"num_beams": settings.num_beams, "max_new_tokens": loaded.cap_new_tokens(settings.max_new_tokens)}
    if settings.target_lang:
        options["forced_bos_token_id"] = _language_token(loaded, settings.target_lang)
    return options


# NLLB/M2M100 tokenizers prefix the source language token, which they keep as state (src_lang) of the one
# cached tokenizer every visitor shares: setting it and encoding are one step, so that two people translating
# from different languages at once never encode with each other's language.
_SOURCE_LANGUAGE = threading.Lock()


def _encode(loaded: LoadedModel, sentences: list[str], settings: TranslationSettings) -> list[list[int]]:
    tokenizer = loaded.tokenizer
    if settings.source_lang:
        _language_token(loaded, settings.source_lang)
    with _SOURCE_LANGUAGE:
        if settings.source_lang:
            tokenizer.src_lang = settings.source_lang
        return tokenizer(sentences, truncation=True, max_length=loaded.token_limit)["input_ids"]


def iter_translate_sentences(loaded: LoadedModel, sentences: list[str], settings: TranslationSettings,
                             budget: int | None = None) -> Iterator[tuple[list[int], list[str]]]:
    """Translate sentences batch by batch: (sentence indices, translations)."""
    options = _generation_options(loaded, settings)
    token_ids = _encode(loaded, sentences, settings)

    def process(batch: list[list[int]]) -> list[str]:
        input_ids, attention_mask = pad(batch, loaded.tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            output = loaded.model.generate(input_ids=input_ids.to(loaded.device),
                                           attention_mask=attention_mask.to(loaded.device), **options)
        return [text.strip() for text in loaded.tokenizer.batch_decode(output, skip_special_tokens=True)]

    # Generation costs grow with beams and output length too, so the budget counts beams.
    budget = (budget or default_budget(loaded.device)) // max(1, settings.num_beams)
    return run_in_batches(token_ids, [len(ids) for ids in token_ids], process, max(budget, 64))


def translate(loaded: LoadedModel, texts: list[str], settings: TranslationSettings = TranslationSettings(),
              budget: int | None = None) -> list[str]:
    """Translate each text, keeping its line breaks; all sentences of all texts share the batches
    (on a server, an instruct model translates each text whole)."""
    if isinstance(loaded, RemoteModel):
        return served.translate(loaded, texts, settings)
    structure = [split_sentences(text) for text in texts]
    sentences = [sentence for lines in structure for line in lines for sentence in line]
    translated = iter(in_input_order(len(sentences),
                                     iter_translate_sentences(loaded, sentences, settings, budget))
                      if sentences else [])
    return ["\n".join(join_sentences([next(translated) for _ in line]) for line in lines) for lines in structure]
