"""Compare: one input through several models, answers side by side with exact figures."""

from __future__ import annotations

import pytest
from helpers import cpu_placement

from llm_demo.errors import InputError
from llm_demo.tasks.chat import reply_tokens
from llm_demo.tasks.compare import one_by_one, side_by_side
from llm_demo.tasks.generation import GenerationSettings, stream
from llm_demo.tasks.sentiment import analyse_lines

MODELS = ("Tiny chat GPT-2", "Tiny GPT-2")


def test_side_by_side_streams_every_model_and_a_failing_one_does_not_stop_the_others():
    def failing():
        yield "half"
        raise InputError("empty_text", "Please enter the {what}.", what="prompt")

    updates = list(side_by_side([lambda: iter(["a", "a b", "a b c"]), failing], [lambda text: len(text.split()), None]))
    first, second = updates[-1]
    assert (first.text, first.tokens, first.done) == ("a b c", 3, True)
    assert (second.text, second.tokens, str(second.error)) == ("half", None, "Please enter the prompt.")
    assert first.first_token_s <= first.seconds and first.tokens_per_second == pytest.approx(3 / first.seconds)
    assert [item.text for item in updates[0]].count("") == 1  # the first update carries one model's first text


def test_one_shot_tasks_run_in_turn_each_timed_on_its_own():
    updates = list(one_by_one([lambda: "x", lambda: "y y"], [None, lambda text: len(text.split())]))
    assert [[item.text for item in update] for update in updates] == [["x", ""], ["x", "y y"]]
    assert updates[-1][1].tokens == 2 and updates[-1][0].tokens is None and updates[-1][0].first_token_s is None


def test_compare_streams_two_models_and_reports_exact_token_counts(client, load):
    *answers, table = client.predict(
        "generation", "The quick brown fox", *MODELS, None, None, "", 10, 0, api_name="/compare"
    )
    settings = GenerationSettings(max_new_tokens=10, temperature=0)
    for name, answer, row in zip(MODELS, answers, table["data"]):
        loaded = load("generation", name, "causal-lm")
        assert answer == list(stream(loaded, "The quick brown fox", settings))[-1]
        model, runs_on, first, seconds, tokens, speed = row
        assert model == name and runs_on.startswith(f"`{loaded.model_id}` · Runs on {cpu_placement()}")
        assert tokens == reply_tokens(loaded, answer) and 0 < first <= seconds
        assert speed == pytest.approx(tokens / seconds, rel=0.05)
    assert answers[2:] == ["", ""] and table["headers"][4:] == ["Tokens", "Tokens/s (end to end)"]


def test_compare_runs_sentiment_models_through_the_sentiment_task(client, load):
    *answers, table = client.predict(
        "sentiment",
        "great film\nawful service",
        "Tiny BERT sentiment",
        "Tiny BERT sentiment",
        None,
        None,
        "",
        10,
        0,
        api_name="/compare",
    )
    rows = analyse_lines(
        load("sentiment", "Tiny BERT sentiment", "sequence-classification"), "great film\nawful service"
    )
    expected = "\n".join(f"{row.label} ({row.score:.3f}) · {row.text}" for row in rows)
    assert answers[:2] == [expected, expected] and [row[4] for row in table["data"]] == [None, None]


def test_compare_needs_two_models(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="at least two models"):
        client.predict("generation", "hello", MODELS[0], None, None, None, "", 10, 0, api_name="/compare")
