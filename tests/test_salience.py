"""Sequence salience: gradient x input of a span of the answer's log-probability, on the tiny GPT-2s in fp32 as the
Inside tab loads them. Each token's score is the derivative the formula says (checked against finite differences in
float64), the span's log-probability is the model's own, groups add up their tokens, long prompts lose their start
to the window, and a chat model's template is read as generation reads it."""

from __future__ import annotations

import copy

import pytest
import torch

from llm_demo.errors import InputError, ModelError
from llm_demo.models.base import Model
from llm_demo.models.local.generate import prompt_ids
from llm_demo.tasks.salience import GROUPINGS, salience, shown
from llm_demo.ui.inside_tab import GRADIENT_LOAD

PROMPT = "Anna lives in Paris. She likes the city.\n\nBob lives in Rome. 他喜欢这座城市。"
ANSWER = " Paris is where Anna lives."


@pytest.fixture(scope="module")
def gpt2(load):
    return load("generation", "Tiny GPT-2", "causal-lm", **GRADIENT_LOAD)


@pytest.fixture(scope="module")
def chat_gpt2(load):
    return load("generation", "Tiny chat GPT-2", "causal-lm", **GRADIENT_LOAD)


def test_the_span_s_log_probability_is_the_model_s_own(gpt2):
    """The prompt's tokens as generation feeds them (generate.prompt_ids), then the answer's."""
    result = salience(gpt2, PROMPT, ANSWER)  # the whole answer
    answer_ids = gpt2.tokenizer(ANSWER, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids(gpt2, PROMPT) + answer_ids])
    with torch.no_grad():
        logprobs = gpt2.model(input_ids=ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])
    assert result.target_tokens == len(answer_ids)
    assert result.target_logprob == pytest.approx(float(logprobs[-len(answer_ids) :].sum()), abs=1e-4)


def test_each_score_is_the_derivative_along_its_token_s_embedding(gpt2):
    """score_i = d/da log p(span | e_1 .. a e_i ..) at a = 1, which a central difference in float64 measures."""
    result = salience(gpt2, PROMPT, ANSWER, 1, 6)  # "Paris"
    model = copy.deepcopy(gpt2.model).double()
    ids = gpt2.tokenizer(PROMPT + " Paris")["input_ids"]
    first = len(ids) - result.target_tokens
    embeds = model.get_input_embeddings()(torch.tensor([ids])).detach()

    def span_logprob(position: int, scale: float) -> float:
        scaled = embeds.clone()
        scaled[0, position] *= scale
        with torch.no_grad():
            logits = model(inputs_embeds=scaled).logits[0, first - 1 : -1]
        return float(logits.log_softmax(-1).gather(-1, torch.tensor(ids[first:])[:, None]).sum())

    step = 1e-4
    for position in (0, 5, first - 1):
        derivative = (span_logprob(position, 1 + step) - span_logprob(position, 1 - step)) / (2 * step)
        assert result.scores[position] == pytest.approx(derivative, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("grouping", list(GROUPINGS))
def test_groups_add_up_their_tokens_and_join_back_to_the_prompt(gpt2, grouping):
    result = salience(gpt2, PROMPT, ANSWER, 7, 27)  # "is where Anna lives."
    grouped = shown(result, grouping)
    assert "".join(piece.text for piece in grouped.prompt) == PROMPT
    assert "".join(piece.text for piece in grouped.answer) == ANSWER[: result.target[0] - result.answer_start]
    assert grouped.total == pytest.approx(sum(result.scores), abs=1e-6)
    assert grouped.template_total == 0  # a model without a chat template reads the prompt alone


def test_words_sentences_and_paragraphs_are_the_pieces_a_reader_sees(gpt2):
    result = salience(gpt2, PROMPT, ANSWER)
    sentences = [piece.text for piece in shown(result, "sentences").prompt if piece.score is not None]
    assert [s for s in sentences if s.strip()] == [
        "Anna lives in Paris.",
        "She likes the city.",
        "Bob lives in Rome.",
        "他喜欢这座城市。",
    ]
    paragraphs = [piece.text for piece in shown(result, "paragraphs").prompt if piece.text.strip()]
    assert paragraphs == ["Anna lives in Paris. She likes the city.", "Bob lives in Rome. 他喜欢这座城市。"]
    words = [piece.text for piece in shown(result, "words").prompt if piece.score is not None and piece.text.strip()]
    assert {"Anna", "Paris", "他", "喜欢", "这座", "城市"} <= set(words)


def test_a_word_s_score_is_the_sum_of_the_tokens_that_start_in_it(gpt2):
    result = salience(gpt2, PROMPT, ANSWER)
    starts = []  # where each token's first character other than a space stands
    for start, end in result.offsets:
        piece = result.text[start:end]
        starts.append(start + len(piece) - len(piece.lstrip()) if piece.strip() else start)
    position = 0
    for piece in shown(result, "words").prompt:
        inside = [score for at, score in zip(starts, result.scores) if position <= at < position + len(piece.text)]
        assert (piece.score is None) == (not inside)
        assert piece.score is None or piece.score == pytest.approx(sum(inside), abs=1e-7)
        position += len(piece.text)


def test_a_prompt_longer_than_the_window_loses_its_start(gpt2):
    prompt = ("The cat sat on the mat. " * 40).strip()
    result = salience(gpt2, prompt, " It slept.")
    total = len(gpt2.tokenizer(prompt)["input_ids"]) + len(gpt2.tokenizer(" It slept.")["input_ids"])
    assert result.cut_tokens == total - gpt2.token_limit > 0
    assert len(result.scores) == gpt2.token_limit - result.target_tokens
    grouped = shown(result, "words")
    assert "".join(piece.text for piece in grouped.prompt) == prompt
    assert grouped.prompt[0].score is None  # the start the model never read is shown unshaded


def test_a_chat_model_reads_the_prompt_inside_its_template(chat_gpt2):
    result = salience(chat_gpt2, PROMPT, ANSWER)
    assert result.text.startswith("<s>user: ") and result.text[slice(*result.prompt)] == PROMPT
    grouped = shown(result, "sentences")
    assert grouped.template_total != 0
    assert grouped.total == pytest.approx(sum(result.scores), abs=1e-6)


def test_spans_outside_the_answer_and_empty_answers_are_refused(gpt2):
    with pytest.raises(InputError, match="within the answer"):
        salience(gpt2, PROMPT, ANSWER, 5, 500)
    with pytest.raises(InputError):
        salience(gpt2, PROMPT, "   ")


def test_a_model_without_weights_here_cannot_show_salience():
    served = Model()  # what a model on a server inherits: no gradients to take
    served.model_id = "served"
    with pytest.raises(ModelError, match="cannot do sequence salience"):
        salience(served, PROMPT, ANSWER)


def test_salience_endpoint_shades_the_prompt_by_words(client):
    prompt_pieces, answer_pieces, summary, status = client.predict(
        PROMPT, ANSWER, 1, 6, "words", "Tiny GPT-2", api_name="/salience"
    )
    assert "".join(piece["token"] for piece in prompt_pieces) == PROMPT
    scores = [piece["class_or_confidence"] for piece in prompt_pieces if piece["class_or_confidence"] is not None]
    assert max(abs(score) for score in scores) == pytest.approx(1)
    assert "“Paris”" in summary and "cpu · float32" in status
    assert [piece["token"] for piece in answer_pieces] == [" "]  # the tiny tokenizer's space before "Paris"
