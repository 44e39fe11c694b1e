"""The answers task end to end on the tiny models: answers from two models on a file of 20 prompts, reference
metrics equal to rouge-score's and sacrebleu's own, the response cache (a second run generates nothing, a third
model generates only its answers), a judge whose output is garbage, a judge biased to the first position,
a stopped run continued, reviews set against the judge, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sacrebleu
from helpers import evaluate_args, read_predictions, write
from rouge_score import rouge_scorer
from tiny_models import byte_level_tokenizer, save_qwen2

from llm_demo.errors import InputError
from llm_demo.evaluation import answers as answers_module
from llm_demo.evaluation import downloads
from llm_demo.evaluation.answers import AnswerOptions
from llm_demo.evaluation.recipes import BeyondAccuracy
from llm_demo.evaluation.reviews import ReviewStore
from llm_demo.evaluation.run import Evaluation, evaluate
from llm_demo.models.base import Model
from llm_demo.models.types import GenerationSettings, in_input_order
from llm_demo.settings import get_settings

CHAT, PLAIN = "Tiny chat GPT-2", "Tiny GPT-2"
COLUMNS = {"prompt": "prompt", "reference": "reference", "system": "system", "criteria": None}
SHORT = dict(max_new_tokens=8)


@pytest.fixture
def prompts(tmp_path):
    lines = ["prompt,reference,system,topic"]
    for i in range(20):
        system = "Answer briefly." if i % 3 == 0 else ""
        lines.append(
            f'"Question {i}: what is {i} plus {i}?","{2 * i} is the answer",{system},{"math" if i % 2 else "words"}'
        )
    return write(tmp_path, "prompts.csv", "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def third(tmp_path_factory):
    """A third generation model, other weights than the registry's two: a tiny Qwen2, named by its folder."""
    folder = tmp_path_factory.mktemp("third") / "tiny-qwen2"
    save_qwen2(
        folder,
        byte_level_tokenizer(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
    )
    return str(folder)


@pytest.fixture(autouse=True)
def fresh_database(tmp_path, monkeypatch):
    """Each test its own cache and reviews, so one test's answers are not another's."""
    monkeypatch.setenv("LLM_DEMO_DB", str(tmp_path / "llm_demo.sqlite3"))


def run(prompts, out, models, registry, **options):
    return evaluate("answers", prompts, COLUMNS, models, out, registry, answers=AnswerOptions(**{**SHORT, **options}))


def metrics_of(result) -> dict:
    downloads.write_downloads(result)
    return json.loads((result.folder / "metrics.json").read_text(encoding="utf-8"))


def test_two_models_answer_every_prompt_as_they_would_one_at_a_time(prompts, registry, load, tmp_path):
    result = run(prompts, tmp_path / "run", [CHAT, PLAIN], registry)
    rows = read_predictions(tmp_path / "run")
    assert len(rows) == 20 and all(row[f"status [{CHAT}]"] == "done" for row in rows)
    chat = load("generation", CHAT, "causal-lm")
    settings = GenerationSettings(max_new_tokens=8, temperature=0, repetition_penalty=1.0, seed=0)
    for row in rows[:4]:
        messages = [{"role": "system", "content": row["system"]}] if row["system"] else []
        messages.append({"role": "user", "content": row["prompt"]})
        assert row[f"prediction [{CHAT}]"] == in_input_order(1, chat.respond([messages], settings))[0]
    assert [model.rows_done for model in result.models] == [20, 20]


def test_reference_metrics_equal_the_libraries_own(prompts, registry, tmp_path):
    result = run(prompts, tmp_path / "run", [CHAT], registry)
    rows = read_predictions(tmp_path / "run")
    answers, references = [row["prediction"] for row in rows], [row["reference"] for row in rows]
    metrics = result.models[0].metrics
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected_rouge = sum(scorer.score(r, a)["rougeL"].fmeasure for r, a in zip(references, answers)) / 20
    assert metrics.rouge_l == pytest.approx(expected_rouge)
    assert metrics.chrf == pytest.approx(sacrebleu.corpus_chrf(answers, [references]).score)
    assert metrics.bleu == pytest.approx(sacrebleu.corpus_bleu(answers, [references]).score)
    assert metrics.mean_length == pytest.approx(sum(map(len, answers)) / 20)
    assert [float(row["rouge_l"]) for row in rows[:3]] == pytest.approx(
        [scorer.score(r, a)["rougeL"].fmeasure for r, a in zip(references[:3], answers[:3])], abs=1e-4
    )


def test_the_cache_makes_a_second_run_generate_nothing_and_a_third_model_only_its_own(
    prompts, registry, third, tmp_path
):
    first = metrics_of(run(prompts, tmp_path / "one", [CHAT, PLAIN], registry))
    second = metrics_of(run(prompts, tmp_path / "two", [CHAT, PLAIN], registry))
    assert first["cache"]["answers_generated"] == 40
    assert second["cache"] == {**second["cache"], "answers_generated": 0, "answers_reused": 40}
    assert [model["answers"] for model in second["models"]] == [model["answers"] for model in first["models"]]
    third = metrics_of(run(prompts, tmp_path / "three", [CHAT, PLAIN, third], registry))
    assert third["cache"]["answers_generated"] == 20 and third["cache"]["answers_reused"] == 40
    fresh = metrics_of(run(prompts, tmp_path / "four", [CHAT], registry, cache=False))
    assert fresh["cache"]["answers_generated"] == 20 and fresh["cache"]["answers_reused"] == 0


class AlwaysFirst(Model):
    """A judge that grades everything 7 and always prefers the answer shown first."""

    model_id, kind, token_limit, load_seconds = "always-first", "causal-lm", 4096, 0.0
    placement = "here"

    def respond(self, conversations, settings):
        for index, messages in enumerate(conversations):
            text = messages[-1]["content"]
            yield [index], ["Both fine. [[A]]" if "[[C]]" in text else "Reasonable. Rating: [[7]]"]


@pytest.fixture
def always_first_judge(monkeypatch):
    real = answers_module.get_model
    monkeypatch.setattr(
        answers_module, "get_model", lambda entry, kind: AlwaysFirst() if entry.name == "judge" else real(entry, kind)
    )


def test_a_judge_that_always_picks_the_first_position_gives_ties_and_bias_one(
    prompts, registry, third, tmp_path, always_first_judge
):
    result = run(prompts, tmp_path / "run", [CHAT, PLAIN, third], registry, judge="judge")
    metrics = metrics_of(result)
    assert metrics["position_bias"] == 1.0 and metrics["verdicts"] == 60
    assert all(row["wins"] == row["losses"] == 0 and row["ties"] == 40 for row in metrics["pairwise"])
    assert all(model["answers"]["judge_score"] == 7.0 for model in metrics["models"])
    assert {row[f"judge_score [{CHAT}]"] for row in read_predictions(tmp_path / "run")} == {"7.0"}
    again = metrics_of(run(prompts, tmp_path / "again", [CHAT, PLAIN, third], registry, judge="judge"))
    assert again["cache"]["verdicts_judged"] == 0 and again["cache"]["verdicts_reused"] == 60 + 60


def test_slices_rationales_and_what_answers_cannot_do(prompts, registry, tmp_path, always_first_judge):
    beyond = BeyondAccuracy(slice_column="topic")
    options = AnswerOptions(**SHORT, judge="judge", judge_mode="grade")
    result = evaluate("answers", prompts, COLUMNS, [CHAT], tmp_path / "run", registry, beyond=beyond, answers=options)
    slices = {item.value: item for item in result.models[0].slices}
    assert set(slices) == {"math", "words"} and all(item.rows == 10 for item in slices.values())
    assert all(item.metrics["judge_score"] == 7.0 for item in slices.values())
    assert {row["judge_rationale"] for row in read_predictions(tmp_path / "run")} == {"Reasonable."}
    with pytest.raises(InputError) as error:
        evaluate("answers", prompts, COLUMNS, [CHAT], tmp_path / "r", registry, beyond=BeyondAccuracy(robustness=True))
    assert error.value.key == "no_robustness_for_task"


def test_a_judge_whose_output_is_garbage_leaves_rows_unscored_and_counted(prompts, registry, third, tmp_path):
    result = run(prompts, tmp_path / "run", [CHAT, PLAIN], registry, judge=third, judge_mode="both")
    metrics = metrics_of(result)
    assert [model["answers"]["unscored"] for model in metrics["models"]] == [20, 20]
    assert all(model["answers"]["judge_score"] is None for model in metrics["models"])
    assert metrics["unreadable_verdicts"] == metrics["verdicts"] == 20
    assert (tmp_path / "run" / "metrics.json").exists()


def test_a_stopped_run_continues_to_the_results_of_one_run(prompts, registry, tmp_path, always_first_judge):
    whole = run(prompts, tmp_path / "whole", [CHAT, PLAIN], registry, judge="judge")
    options = AnswerOptions(**SHORT, judge="judge")
    stopped = Evaluation(
        "answers", prompts, COLUMNS, [CHAT, PLAIN], tmp_path / "part", registry, window=6, answers=options
    )
    steps = stopped.steps()
    for progress in steps:
        if progress.done >= progress.total // 2:
            steps.close()
            break
    stopped.finish()
    continued = evaluate(
        "answers", prompts, COLUMNS, [CHAT, PLAIN], tmp_path / "part", registry, resume=True, window=6, answers=options
    )
    assert [m.metrics for m in continued.models] == [m.metrics for m in whole.models]
    assert continued.judging.ratings == whole.judging.ratings
    assert read_predictions(tmp_path / "part") == read_predictions(tmp_path / "whole")


def test_reviews_are_kept_and_set_against_the_judge(prompts, registry, tmp_path, always_first_judge):
    result = run(prompts, tmp_path / "run", [CHAT, PLAIN], registry, judge="judge")
    store = ReviewStore(get_settings().db_path)
    picks = ["tie", "tie", "a", "tie", "b", "tie"]  # the judge says tie on every row
    for row, value in enumerate(picks):
        store.add_pick(result.run_id, row, CHAT, PLAIN, value)
        store.add_grade(result.run_id, row, CHAT, str(1 + row % 5))
    restarted = ReviewStore(get_settings().db_path)  # a new process reading the same file
    assert len(restarted.reviews(result.run_id)) == 12
    metrics = metrics_of(result)
    agreement = metrics["agreement"]
    assert agreement["pairs"] == 6 and agreement["pair_agreement"] == pytest.approx(4 / 6)
    # kappa by hand: the judge always says tie, so chance agreement p_e = P(person tie) * 1 = 4/6 = p_o -> 0
    assert agreement["kappa"] == pytest.approx(0.0)
    assert {row["model"] for row in metrics["human_pairwise"]} == {CHAT, PLAIN}
    unjudged = run(prompts, tmp_path / "again", [CHAT, PLAIN], registry)  # another judge (none): the same answers
    assert unjudged.run_id == result.run_id and len(metrics_of(unjudged)["human_pairwise"]) == 2


def test_options_are_checked_before_anything_runs(prompts, registry, tmp_path):
    with pytest.raises(InputError) as error:
        run(prompts, tmp_path / "run", [CHAT], registry, judge="judge", judge_mode="vote")
    assert error.value.key == "bad_judge_mode"
    with pytest.raises(InputError) as error:
        run(prompts, tmp_path / "run", [CHAT], registry, judge=CHAT, judge_mode="pairwise")
    assert error.value.key == "pairwise_needs_two"


def test_the_command_line_writes_metrics_predictions_and_report(prompts, tiny, tmp_path):
    out = tmp_path / "cli"
    args = evaluate_args(prompts, out, "--model", PLAIN, "--max-new-tokens", "6", task="answers", model=CHAT)
    done = subprocess.run([sys.executable, "-m", "llm_demo", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"] == "answers" and metrics["cache"]["answers_generated"] == 40
    assert {model["model"] for model in metrics["models"]} == {CHAT, PLAIN}
    assert "ROUGE-L" in (out / "report.html").read_text(encoding="utf-8")
