"""Writing systems and sentences, shared by the tasks and the evaluation so that they agree on what is Chinese,
Japanese or Korean text and on where a sentence ends.

Three character classes, since the sites ask three different questions: HAN (what OpenCC converts and what
Chinese tokenisation splits into single characters), CJK (the letters of Chinese, Japanese and Korean: a
text's writing system) and UNSPACED (scripts written without spaces between words and sentences; Korean
is not among them, it puts spaces between words).
"""

from __future__ import annotations

import re

# Unicode blocks, written as the inside of a regex character class.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK Unified Ideographs Extension A, the main block, Compatibility
_KANA = "\u3040-\u30ff"  # Hiragana, Katakana
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"  # Jamo, Compatibility Jamo (ㅋㅋ), Syllables
_CJK_PUNCTUATION = "\u3000-\u303f"  # CJK Symbols and Punctuation: the ideographic space, 、。「」
_FULLWIDTH = "\uff00-\uffef"  # Halfwidth and Fullwidth Forms: ！，（） and full-width letters and digits

HAN = re.compile(f"[{_HAN}]")
CJK = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
UNSPACED = re.compile(f"[{_HAN}{_KANA}{_CJK_PUNCTUATION}{_FULLWIDTH}]")

# A sentence ends after . ! ? (followed by space) or after CJK full stops, which need no space.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")


def split_sentences(text: str) -> list[list[str]]:
    """Lines of sentences: line breaks are kept as the author wrote them."""
    return [[part.strip() for part in _SENTENCE_END.split(line) if part.strip()] for line in text.splitlines()]


def join_sentences(sentences: list[str]) -> str:
    """Sentences of one line back into a line; no space where either side is written without spaces."""
    line = ""
    for sentence in sentences:
        needs_space = line and not (UNSPACED.search(line[-1]) or UNSPACED.search(sentence[:1]))
        line += (" " if needs_space else "") + sentence
    return line
