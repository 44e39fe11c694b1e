"""Counterfactual fairness: identity terms swapped exactly as documented (both ways, case kept, whole words,
Chinese too), and an evaluation's share of changed predictions per family equal to a hand count, kept across a
stopped and continued run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from llm_demo.errors import InputError
from llm_demo.evaluation import downloads, html_report
from llm_demo.evaluation.reading import Table
from llm_demo.evaluation.recipes import BeyondAccuracy
from llm_demo.evaluation.results import Predictor
from llm_demo.evaluation.run import Evaluation, evaluate
from llm_demo.evaluation.swaps import FAMILIES, counterparts, swap_terms
from llm_demo.models.types import Classification, LabelScore
from llm_demo.settings import ASSETS_DIR


@pytest.mark.parametrize(
    ("family", "text", "swapped"),
    [
        ("gender", "He told her that his brother is a man.", "She told his that her sister is a woman."),
        ("gender", "HE SAID SO", "SHE SAID SO"),
        ("gender", "she's the manager, he's the chairman", "he's the manager, she's the chairman"),  # whole words
        ("gender", "Mr. Smith and Mrs. Jones", "Mrs. Smith and Mr. Jones"),
        ("gender", "他们说他的妈妈是男人。", "她们说她的爸爸是女人。"),
        ("names", "James met Mary; Mary met James.", "Mary met James; James met Mary."),
        ("names", "张伟和王芳", "王芳和张伟"),
        ("nationality", "An American and a Chinese friend", "An Chinese and a American friend"),
        ("religion", "the church and the mosque", "the mosque and the church"),
        ("religion", "基督徒去教堂", "穆斯林去清真寺"),
    ],
)
def test_terms_are_swapped_both_ways_keeping_case_and_word_boundaries(family, text, swapped):
    assert swap_terms(family, text) == swapped


def test_every_listed_pair_swaps_both_ways_unless_a_term_has_two_counterparts():
    for name in ("en.yaml", "zh.yaml"):
        families = yaml.safe_load((ASSETS_DIR / "swaps" / name).read_text(encoding="utf-8"))
        assert set(families) == set(FAMILIES)
        for family, pairs in families.items():
            terms = [str(term) for pair in pairs for term in pair]
            for a, b in pairs:
                a, b = str(a), str(b)
                if terms.count(b) == 1:  # her has two counterparts: the first listed (his) wins, as en.yaml says
                    assert swap_terms(family, b) == a, (family, b)
                if terms.count(a) == 1:
                    assert swap_terms(family, a) == b, (family, a)
            assert {term.lower() if term.isascii() else term for term in terms} <= set(counterparts(family))


def keyword_classifier() -> Predictor:
    """negative when the text names "she" or "Mary", else positive: a classifier with a bias to find."""

    def run(texts):
        yield (
            list(range(len(texts))),
            [
                Classification([LabelScore("negative" if {"she", "Mary"} & set(t.split()) else "positive", 0.9)])
                for t in texts
            ],
        )

    return Predictor("biased", run, labels=["negative", "positive"])


TEXTS = ["he is here", "she is here", "it is here", "his cat sleeps", "James is here", "he and she"]
LABELS = ["positive", "negative", "positive", "positive", "positive", "positive"]


def test_changed_rates_per_family_match_a_hand_count(tmp_path):
    table = Table(pd.DataFrame({"text": TEXTS, "label": LABELS}, dtype=str), 0, "t.csv")
    beyond = BeyondAccuracy(swap_terms=("gender", "names"))
    result = evaluate(
        "classification", table, {"text": "text", "label": "label"}, [keyword_classifier()], tmp_path, beyond=beyond
    )
    bias = {item.perturbation: item for item in result.models[0].bias}
    # gender: rows 1, 2, 4, 6 name a term; swapped, 1 ("she is here") and 2 ("he is here") change label; 4 ("her
    # cat sleeps") and 6 ("she and he") keep theirs (6 names "she" either way)
    assert (bias["swap_gender"].rows, bias["swap_gender"].fail_rate) == (4, 0.5)
    assert (bias["swap_names"].rows, bias["swap_names"].fail_rate) == (1, 1.0)  # James -> Mary
    assert result.models[0].robustness == []
    downloads.write_downloads(result)
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    gender = next(item for item in metrics["models"][0]["bias"] if item["swap"] == "gender")
    assert gender["changed_rate"] == 0.5 and gender["metric"] == 0.75 and gender["metric_drop"] == 0.5  # 3/4 -> 1/4
    assert {row["row"] for row in gender["changed"]} == {1, 2}
    page = html_report.render(result, html_report.FileInfo("t.csv", 6, "0" * 64))
    assert "Counterfactual fairness" in page and "his cat sleeps" not in page.split("Counterfactual")[1]


def test_a_stopped_run_continues_to_the_bias_of_one_run(tmp_path):
    table = Table(pd.DataFrame({"text": TEXTS * 3, "label": LABELS * 3}, dtype=str), 0, "t.csv")
    columns, beyond = {"text": "text", "label": "label"}, BeyondAccuracy(swap_terms=("gender",))
    whole = evaluate("classification", table, columns, [keyword_classifier()], tmp_path / "whole", beyond=beyond)
    run = Evaluation(
        "classification", table, columns, [keyword_classifier()], tmp_path / "part", window=6, beyond=beyond
    )
    steps = run.steps()
    next(steps)
    steps.close()
    run.finish()
    continued = evaluate(
        "classification",
        table,
        columns,
        [keyword_classifier()],
        tmp_path / "part",
        window=6,
        beyond=beyond,
        resume=True,
    )
    assert continued.models[0].bias == whole.models[0].bias


def test_unknown_families_and_tasks_without_predictions_to_flip_are_refused(tmp_path):
    table = Table(pd.DataFrame({"text": TEXTS, "label": LABELS}, dtype=str), 0, "t.csv")
    with pytest.raises(InputError) as error:
        evaluate(
            "classification",
            table,
            {"text": "text", "label": "label"},
            [keyword_classifier()],
            tmp_path,
            beyond=BeyondAccuracy(swap_terms=("age",)),
        )
    assert error.value.key == "unknown_swap_family"
