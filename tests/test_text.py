"""Writing systems and sentences: which characters count as Han, CJK or unspaced, and splitting text into
sentences and joining them back."""

from __future__ import annotations

import pytest

from llm_demo.text import CJK, HAN, UNSPACED, join_sentences, split_sentences


def matched(pattern, characters: str) -> str:
    return "".join(ch for ch in characters if pattern.fullmatch(ch))


SAMPLES = "中㐀鿿豈䷀あアㅋ한。、「　！Ａ.A é"  # Han (main, Extension A, its last, Compatibility), a Yijing hexagram,
# kana, Hangul (compatibility jamo, syllable), CJK punctuation and ideographic space, full-width forms, Latin


def test_han_is_the_chinese_characters_only():
    assert matched(HAN, SAMPLES) == "中㐀鿿豈"


def test_cjk_is_the_letters_of_chinese_japanese_and_korean():
    assert matched(CJK, SAMPLES) == "中㐀鿿豈あアㅋ한"


def test_unspaced_is_han_kana_and_their_punctuation_but_not_hangul():
    assert matched(UNSPACED, SAMPLES) == "中㐀鿿豈あア。、「　！Ａ"


def test_sentences_split_at_latin_and_cjk_stops_keeping_line_breaks():
    text = "First one. Second one? Third!\n\n今天很好。明天也好！你呢？\nLast line"
    assert split_sentences(text) == [
        ["First one.", "Second one?", "Third!"],
        [],
        ["今天很好。", "明天也好！", "你呢？"],
        ["Last line"],
    ]


@pytest.mark.parametrize(
    "line, sentences",
    [
        ("Hello there. How are you?", ["Hello there.", "How are you?"]),
        ("今天很好。明天也好；后天呢？", ["今天很好。", "明天也好；", "后天呢？"]),
        ("今天很好。Let us go. Bye!", ["今天很好。", "Let us go.", "Bye!"]),
        ("ありがとう。またね。", ["ありがとう。", "またね。"]),
        ("안녕하세요. 반갑습니다.", ["안녕하세요.", "반갑습니다."]),  # Korean puts spaces between sentences
    ],
)
def test_a_line_split_into_sentences_joins_back_unchanged(line, sentences):
    assert split_sentences(line) == [sentences]
    assert join_sentences(sentences) == line


def test_a_chinese_sentence_after_a_latin_one_is_joined_without_a_space():
    assert join_sentences(["It is fun.", "你呢？"]) == "It is fun.你呢？"
    assert join_sentences(["Read", "「本」"]) == "Read「本」"
    assert join_sentences([]) == ""
