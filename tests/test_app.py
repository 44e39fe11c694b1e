"""The app through its public API, as gradio_client (and so any script) sees it."""

from __future__ import annotations

import pytest
from gradio_client.exceptions import AppError
from helpers import cpu_placement

from llm_demo.tasks.classification import classify, zero_shot
from llm_demo.tasks.generation import GenerationSettings, generate
from llm_demo.tasks.qa import QASettings, answer
from llm_demo.tasks.translation import TranslationSettings, translate


def test_every_task_has_its_named_endpoint(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/translate", "/generate", "/classify", "/sentiment", "/answer"} <= set(endpoints)


def test_translate_endpoint_returns_the_backend_translation(client, load):
    text, status = client.predict("Hello there. Bye.", "Tiny BART", 1, 16, "", "", api_name="/translate")
    expected = translate(
        load("translation", "Tiny BART", "seq2seq"),
        ["Hello there. Bye."],
        TranslationSettings(num_beams=1, max_new_tokens=16),
    )[0]
    assert text == expected
    assert cpu_placement() in status


def test_generate_endpoint_streams_to_the_full_greedy_reply(client, load):
    job = client.submit("Hello", "Tiny GPT-2", "", 8, 0, 1, 1, None, api_name="/generate")
    text, _ = job.result()
    greedy = GenerationSettings(max_new_tokens=8, temperature=0, top_p=1, repetition_penalty=1)
    assert text == generate(load("generation", "Tiny GPT-2", "causal-lm"), ["Hello"], greedy)[0]


def test_classify_endpoint_fixed_labels_and_zero_shot(client, load):
    result, _ = client.predict("the match", "Tiny BERT classifier", "", False, api_name="/classify")
    expected = classify(load("classification", "Tiny BERT classifier", "sequence-classification"), ["the match"])[0]
    assert result["label"] == expected.label
    result, _ = client.predict("the match", "Tiny BERT NLI", "sport, politics", False, api_name="/classify")
    expected = zero_shot(
        load("classification", "Tiny BERT NLI", "sequence-classification"), ["the match"], ["sport", "politics"]
    )[0]
    assert {c["label"]: c["confidence"] for c in result["confidences"]} == pytest.approx(
        {s.label: s.score for s in expected.scores}, abs=1e-6
    )


def test_sentiment_endpoint_gives_a_row_per_line(client):
    table, _ = client.predict("good\nbad\n好", "Tiny BERT sentiment", api_name="/sentiment")
    assert table["headers"] == ["Text", "Label", "Score"]
    assert [row[0] for row in table["data"]] == ["good", "bad", "好"]
    assert {row[1] for row in table["data"]} <= {"negative", "neutral", "positive"}


def test_answer_endpoint_highlights_the_answer_in_the_context(client, load):
    context = "The tower is in Paris and was built in 1889."
    best, marked, table, _ = client.predict("Where is it?", context, "Tiny BERT QA", 2, 10, False, api_name="/answer")
    expected = answer(
        load("qa", "Tiny BERT QA", "question-answering"),
        ["Where is it?"],
        [context],
        QASettings(top_k=2, max_answer_tokens=10),
    )[0]
    assert best == expected[0].text
    assert [piece["token"] for piece in marked if piece["class_or_confidence"] == "answer"] == [expected[0].text]
    assert "".join(piece["token"] for piece in marked) == context
    assert [row[0] for row in table["data"]] == [a.text for a in expected]


def test_chinese_readers_get_chinese_error_messages(app_url):
    from gradio_client import Client

    chinese = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    with pytest.raises(AppError, match="请输入内容"):
        chinese.predict("", "Tiny BERT sentiment", api_name="/sentiment")
