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


# --- where words, sentences and paragraphs stand ------------------------------------------------------

Spans = list[tuple[int, int]]  # (start, end) character offsets, in text order
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # letters and digits, with inner apostrophes (don't, l'eau)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])|\n")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _segments(run: str) -> Spans:
    """Chinese words of a run without spaces, by jieba's dictionary (loaded on first use, about a second)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict..." on every first use
    return [(start, end) for word, start, end in jieba.tokenize(run) if _WORD.search(word)]


def word_spans(text: str) -> Spans:
    """Where each word stands: runs of letters and digits where words are spaced, and dictionary segments where
    they are not (Chinese), so that removing or replacing "a word" means the same unit a reader sees."""
    found: Spans = []
    for match in _WORD.finditer(text):
        if HAN.search(match.group()):
            found += [(match.start() + start, match.start() + end) for start, end in _segments(match.group())]
        else:
            found.append(match.span())
    return found


def _between(text: str, separator: re.Pattern) -> Spans:
    """The non-blank pieces between a separator's matches, each without its outer whitespace."""
    found: Spans = []
    start = 0
    for match in [*separator.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            found.append((start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())))
        if match:
            start = match.end()
    return found


def sentence_spans(text: str) -> Spans:
    """Sentences as split_sentences cuts them (a line break ends one too), by where they stand."""
    return _between(text, _SENTENCE_BREAK)


def paragraph_spans(text: str) -> Spans:
    """Paragraphs: blocks of text between blank lines."""
    return _between(text, _PARAGRAPH_BREAK)
