"""Translation: batching, language codes, each sentence translated (splitting them is in test_text.py)."""

from __future__ import annotations

import pytest

from llm_demo.errors import InputError
from llm_demo.models.local.translate import generation_options
from llm_demo.tasks.translation import TranslationSettings, translate
from llm_demo.text import join_sentences

GREEDY = TranslationSettings(num_beams=1, max_new_tokens=6)


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
