"""Translation: sentence splitting, batching, language codes."""

from __future__ import annotations

import pytest

from llm_demo.errors import InputError
from llm_demo.tasks.translation import translate, TranslationSettings
from llm_demo.models.local.translate import generation_options
from llm_demo.text import join_sentences, split_sentences

GREEDY = TranslationSettings(num_beams=1, max_new_tokens=6)


def test_long_text_is_split_into_sentences_keeping_line_breaks():
    text = "First one. Second one? Third!\n\n今天很好。明天也好。\nLast line"
    assert split_sentences(text) == [["First one.", "Second one?", "Third!"], [], ["今天很好。", "明天也好。"],
                                      ["Last line"]]


def test_sentences_join_with_spaces_except_between_chinese():
    assert join_sentences(["Hello.", "Bye."]) == "Hello. Bye."
    assert join_sentences(["你好。", "再见。"]) == "你好。再见。"


@pytest.fixture(scope="module")
def bart(load):
    return load("translation", "Tiny BART", "seq2seq")


def test_batched_translation_equals_one_by_one(bart):
    texts = ["Hello there. How are you?", "Paris is the capital of France.", "今天天气很好。", "Bye"]
    assert translate(bart, texts, GREEDY, budget=64) == [translate(bart, [text], GREEDY)[0] for text in texts]


def test_each_sentence_is_translated_and_lines_are_kept(bart):
    text = "Hello there. How are you?\nBye"
    first, second, third = (translate(bart, [s], GREEDY)[0] for s in ("Hello there.", "How are you?", "Bye"))
    assert translate(bart, [text], GREEDY) == [f"{join_sentences([first, second])}\n{third}"]


def test_target_language_code_forces_the_first_generated_token(bart):
    settings = TranslationSettings(num_beams=1, max_new_tokens=4, source_lang="zho_Hans", target_lang="eng_Latn")
    options = generation_options(bart, settings)
    assert options["forced_bos_token_id"] == bart.tokenizer.convert_tokens_to_ids("eng_Latn")


def test_an_unknown_language_code_is_refused(bart):
    with pytest.raises(InputError) as raised:
        translate(bart, ["Hello"], TranslationSettings(target_lang="xx_Nope"))
    assert raised.value.key == "unknown_language"
