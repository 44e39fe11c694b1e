"""The served model as the answers task uses it, against a real vLLM server (the session's, conftest.py): replies
to many conversations at once, the log-probabilities a judge's G-Eval grade is read from, and a whole answers
run with the served model as the judge. Deselect with `-m "not vllm"`."""

from __future__ import annotations

import json
import math

import httpx
import pytest
import transformers
import yaml
from helpers import read_predictions, write
from vllm_models import CHAT_WINDOW, Servers

from llm_demo.errors import ModelError
from llm_demo.evaluation import downloads
from llm_demo.evaluation.answers import AnswerOptions
from llm_demo.evaluation.judge import CONTINUATIONS, GradeItem, Judge, weighted_mean
from llm_demo.evaluation.run import evaluate
from llm_demo.models import get_model
from llm_demo.models.base import Model
from llm_demo.models.types import GenerationSettings, as_messages
from llm_demo.registry import Registry, read_models_file
from llm_demo.settings import get_settings

pytestmark = pytest.mark.vllm
CHAT, PLAIN, JUDGE = "Tiny chat GPT-2", "Tiny GPT-2", "Tiny Qwen2 judge (vLLM)"
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0, top_p=1, repetition_penalty=1.0)
COLUMNS = {"prompt": "prompt", "reference": "reference", "system": None, "criteria": None}


@pytest.fixture(scope="module")
def judge_registry(vllm_servers: Servers, tiny, tmp_path_factory) -> Registry:
    """The tiny local models, and the server's chat model as a generation model a run can name as its judge."""
    listing = yaml.safe_load(tiny.models_file.read_text(encoding="utf-8"))
    listing["generation"].append(
        {"model": "tiny-chat", "name": JUDGE, "endpoint": vllm_servers.chat.base_url, "max_concurrency": 40}
    )
    path = tmp_path_factory.mktemp("judge-models") / "models.yaml"
    path.write_text(yaml.safe_dump(listing, allow_unicode=True), encoding="utf-8")
    return Registry(read_models_file(path), get_settings())


@pytest.fixture(scope="module")
def served(judge_registry):
    return get_model(judge_registry.resolve("generation", JUDGE), "causal-lm")


@pytest.fixture(autouse=True)
def fresh_database(tmp_path, monkeypatch):
    """Each test its own response cache, so one test's answers and verdicts are not another's."""
    monkeypatch.setenv("LLM_DEMO_DB", str(tmp_path / "llm_demo.sqlite3"))


def chat_completion(servers: Servers, messages: list[dict], settings: GenerationSettings) -> str:
    """The server's own greedy reply to one conversation, asked alone and not streamed."""
    body = {
        "model": servers.chat.name,
        "messages": messages,
        "max_tokens": settings.max_new_tokens,
        "temperature": 0,
        "repetition_penalty": settings.repetition_penalty,
    }
    answer = httpx.post(f"{servers.chat.base_url}/chat/completions", json=body, timeout=60)
    answer.raise_for_status()
    return answer.json()["choices"][0]["message"]["content"]


def test_respond_gives_each_conversation_the_servers_own_reply_and_a_too_long_one_its_error(vllm_servers, served):
    conversations = [
        as_messages("Name a colour."),
        as_messages("Write a haiku about the sea.", "Be brief."),
        [{"role": "user", "content": "word " * CHAT_WINDOW}],
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "What is 2 plus 2?"},
        ],
        as_messages("Tell me about Paris."),
    ]
    assert served.count_chat_tokens(conversations[2]) > CHAT_WINDOW
    replies: dict[int, object] = {}
    for indices, results in served.respond(conversations, GREEDY):
        assert not replies.keys() & set(indices)
        replies.update(zip(indices, results, strict=True))
    assert sorted(replies) == list(range(5))
    too_long = replies.pop(2)
    assert isinstance(too_long, ModelError) and too_long.key == "endpoint_rejected"
    assert "maximum context length" in str(too_long)
    expected = {index: chat_completion(vllm_servers, conversations[index], GREEDY) for index in replies}
    assert replies == expected and len(set(expected.values())) == 4


def echoed_logprobs(servers: Servers, prefix: str, continuation: str) -> tuple[list[str], float]:
    """The continuation's tokens and the sum of their log-probabilities, from one /v1/completions echo request
    over the whole text: the tokens at or after the end of the prefix."""
    body = {"model": servers.chat.name, "prompt": prefix + continuation, "echo": True, "logprobs": 0, "max_tokens": 0}
    answer = httpx.post(f"{servers.chat.base_url}/completions", json=body, timeout=60)
    answer.raise_for_status()
    scored = answer.json()["choices"][0]["logprobs"]
    tail = [i for i, offset in enumerate(scored["text_offset"]) if offset >= len(prefix)]
    return [scored["tokens"][i] for i in tail], math.fsum(scored["token_logprobs"][i] for i in tail)


def test_continuation_logprobs_are_the_servers_log_probs_of_exactly_those_tokens(vllm_servers, served):
    messages = [
        {"role": "system", "content": "You judge answers."},
        {"role": "user", "content": "Question: what is 2 plus 2?\nAnswer: 4. Rate the answer."},
    ]
    reply_start, continuations = "Rating: [[", ["1]]", "7]]", "10]]"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(vllm_servers.chat_folder)
    conversation = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    got = served.continuation_logprobs(messages, reply_start, continuations)
    by_hand = [echoed_logprobs(vllm_servers, conversation + reply_start, text) for text in continuations]
    assert ["".join(tokens) for tokens, _ in by_hand] == continuations
    assert got == pytest.approx([total for _, total in by_hand], rel=1e-5, abs=1e-4)
    assert all(value < 0 for value in got) and len({round(value, 3) for value in got}) == 3


class WritesOnce(Model):
    """The served model's probabilities behind a reply written here: the random tiny model never writes a grade."""

    def __init__(self, served: Model, reply: str) -> None:
        self.served, self.reply = served, reply

    def respond(self, conversations, settings):
        yield list(range(len(conversations))), [self.reply] * len(conversations)

    def continuation_logprobs(self, messages, reply_start, continuations):
        return self.served.continuation_logprobs(messages, reply_start, continuations)


def test_a_grade_the_served_judge_writes_is_the_weighted_mean_of_the_servers_probabilities(served):
    judge = Judge(WritesOnce(served, "Correct and brief. Rating: [[7]]"), JUDGE)
    item = GradeItem("What is 2 plus 2?", "4.", "4")
    [grade] = [grade for _, grades in judge.grade([item]) for grade in grades]
    logprobs = served.continuation_logprobs(
        as_messages(judge.grade_prompt(item)), "Correct and brief. Rating: [[", CONTINUATIONS
    )
    assert grade.weighted and grade.score == pytest.approx(weighted_mean(logprobs)) and 1 <= grade.score <= 10
    assert grade.score != 7.0 and grade.rationale == "Correct and brief." and grade.error is None


def metrics_of(result) -> dict:
    downloads.write_downloads(result)
    return json.loads((result.folder / "metrics.json").read_text(encoding="utf-8"))


def test_answers_judged_by_the_served_model_are_graded_compared_and_cached(judge_registry, tmp_path):
    lines = ["prompt,reference"] + [f'"Question {i}: what is {i} plus {i}?","{2 * i} is the answer"' for i in range(20)]
    prompts = write(tmp_path, "prompts.csv", "\n".join(lines) + "\n")
    options = AnswerOptions(max_new_tokens=8, judge=JUDGE, judge_mode="both")
    runs = [
        metrics_of(
            evaluate("answers", prompts, COLUMNS, [CHAT, PLAIN], tmp_path / out, judge_registry, answers=options)
        )
        for out in ("one", "two")
    ]
    first, second = runs
    rows = read_predictions(tmp_path / "one")
    for model in first["models"]:
        answers, name = model["answers"], model["model"]
        grades = [float(row[f"judge_score [{name}]"]) for row in rows if row[f"judge_score [{name}]"]]
        assert answers["rows"] == 20 and answers["unscored"] == 20 - len(grades)
        assert all(1 <= grade <= 10 for grade in grades)
        if grades:
            assert 1 <= answers["judge_score"] <= 10
            assert answers["judge_score"] == pytest.approx(sum(grades) / len(grades), abs=1e-3)
        else:
            assert answers["judge_score"] is None
    assert first["judge"] == JUDGE and first["verdicts"] == 20 and 0 <= first["unreadable_verdicts"] <= 20
    assert isinstance(first["pairwise"], list) and "position_bias" in first
    assert first["cache"] == {"answers_reused": 0, "answers_generated": 40, "verdicts_reused": 0, "verdicts_judged": 60}
    assert second["cache"] == {
        "answers_reused": 40,
        "answers_generated": 0,
        "verdicts_reused": 60,
        "verdicts_judged": 0,
    }
    assert [model["answers"] for model in second["models"]] == [model["answers"] for model in first["models"]]
    assert read_predictions(tmp_path / "two") == rows
