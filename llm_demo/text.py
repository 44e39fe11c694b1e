"""Writing systems and sentences: what tasks, evaluation and plots share about text itself."""

from __future__ import annotations

import re

# A sentence ends after . ! ? (followed by space) or after CJK full stops, which need no space.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")
CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uac00-\ud7af\uff00-\uffef]")


def split_sentences(text: str) -> list[list[str]]:
    """Lines of sentences: line breaks are kept as the author wrote them."""
    return [[part.strip() for part in _SENTENCE_END.split(line) if part.strip()] for line in text.splitlines()]


def join_sentences(sentences: list[str]) -> str:
    """Sentences of one line back into a line; no spaces between CJK sentences."""
    line = ""
    for sentence in sentences:
        needs_space = line and not (CJK.search(line[-1]) or CJK.search(sentence[:1]))
        line += (" " if needs_space else "") + sentence
    return line
