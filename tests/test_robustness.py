"""Perturbations change what they claim, the same way for a seed, and leave alone the rows they cannot
apply to; a perturbation's fail rate is the share of predictions that changed."""

from __future__ import annotations

import json

import pytest

from llm_demo.evaluation.results import Predictor
from llm_demo.evaluation.robustness import (
    NEIGHBOURS,
    PERTURBATIONS,
    Pair,
    PerturbationTally,
    extra_rows,
    failed,
    perturb,
    perturb_rows,
    severity,
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog, twice!",
    "这部电影很好看，我很喜欢。",
    "Service was slow; food was cold.",
    "ok 42",
]


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_each_perturbation_gives_the_same_text_for_the_same_seed(name):
    assert [perturb(name, text, seed=7) for text in SENTENCES] == [perturb(name, text, seed=7) for text in SENTENCES]


def test_typos_differ_between_seeds():
    text = SENTENCES[0]
    assert len({perturb("typos", text, seed) for seed in range(5)}) == 5


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("upper_case", "Great film, 10/10", "GREAT FILM, 10/10"),
        ("lower_case", "Great FILM", "great film"),
        ("title_case", "don't STOP  me", "Don't Stop  Me"),
        ("strip_punctuation", "Hi, you! 好吗？", "Hi you 好吗"),
        ("add_punctuation", "Great!", "Great!!"),
        ("add_punctuation", "好电影。", "好电影。。"),
        ("extra_whitespace", "a b  c", "a  b   c"),
        ("punctuation_width", "你好，世界!", "你好,世界！"),
        ("punctuation_width", "他说：“好。”", "他说:“好.”"),
        ("punctuation_width", "ありがとう、またね!", "ありがとう,またね！"),
        ("simplified_traditional", "简体中文的电影", "簡體中文的電影"),
        ("simplified_traditional", "繁體中文的電影", "繁体中文的电影"),
    ],
)
def test_perturbation_changes_what_it_claims(name, text, expected):
    assert perturb(name, text) == expected


def test_added_punctuation_is_a_closing_mark_of_the_text_s_script():
    assert perturb("add_punctuation", "Good film") in {"Good film.", "Good film!"}
    assert perturb("add_punctuation", "好电影") in {"好电影。", "好电影！"}
    assert perturb("add_punctuation", "ありがとう") in {"ありがとう。", "ありがとう！"}
    assert perturb("add_punctuation", "감사합니다") in {"감사합니다.", "감사합니다!"}


def test_extra_whitespace_puts_one_space_into_text_without_spaces():
    changed = perturb("extra_whitespace", "这部电影很好看")
    assert changed.count(" ") == 1 and changed.replace(" ", "") == "这部电影很好看"
    assert not changed.startswith(" ") and not changed.endswith(" ")


def test_typos_are_neighbouring_keys_or_swapped_letters_at_the_stated_rate():
    text = "the quick brown fox jumps over the lazy dog and runs far away"  # 49 letters: round(0.05 * 49) = 2 typos
    changed = perturb("typos", text, seed=3)
    assert len(changed) == len(text) and changed != text
    diffs = [i for i, (a, b) in enumerate(zip(text, changed)) if a != b]
    events, i = 0, 0
    while i < len(diffs):
        at = diffs[i]
        if i + 1 < len(diffs) and diffs[i + 1] == at + 1 and changed[at : at + 2] == text[at + 1] + text[at]:
            i += 2  # two adjacent letters swapped
        else:
            assert changed[at] in NEIGHBOURS[text[at]]
            i += 1
        events += 1
    assert 1 <= events <= 2
    assert [c for c in changed if not c.isalpha()] == [c for c in text if not c.isalpha()]


@pytest.mark.parametrize(
    "name, text",
    [
        ("upper_case", "这部电影很好看"),
        ("lower_case", "already lower"),
        ("title_case", "Already Title"),
        ("typos", "这部电影很好看 123"),
        ("strip_punctuation", "no marks here"),
        ("add_punctuation", "   "),
        ("extra_whitespace", "x"),
        ("punctuation_width", "Plain English, with commas."),
        ("simplified_traditional", "No Chinese here."),
    ],
)
def test_perturbation_leaves_rows_it_cannot_apply_to_unchanged(name, text):
    assert perturb(name, text) == text


def test_unchanged_rows_are_left_out_of_a_perturbation():
    (upper,) = perturb_rows(["好看", "good", "BAD"], names=("upper_case",))
    assert (upper.rows, upper.inputs) == ([1], ["GOOD"])
    assert extra_rows(perturb_rows(["电影", "good"], names=("upper_case", "simplified_traditional"))) == 2


def test_question_answering_perturbs_the_question_and_keeps_the_context():
    (upper,) = perturb_rows([("who won?", "Ann won the race.")], names=("upper_case",))
    assert upper.inputs == [("WHO WON?", "Ann won the race.")]


def pair(row: int, text: str, reference, before, after) -> Pair:
    return Pair(row, reference, text, text.upper(), before, after)


def test_fail_rate_is_the_share_of_changed_predictions_among_perturbed_rows():
    from llm_demo.evaluation.tallies import ClassificationTally
    from llm_demo.models.types import Classification, LabelScore

    def said(label: str) -> Classification:
        return Classification([LabelScore(label, 0.9)])

    def label_of(result: Classification) -> tuple[str, float]:
        return result.label, result.score

    tally = PerturbationTally("upper_case", "sentiment", lambda: ClassificationTally(["negative", "positive"]))
    tally.add(
        [
            pair(0, "good film", "positive", said("positive"), said("negative")),
            pair(2, "bad", "negative", said("negative"), said("negative")),
        ],
        label_of,
    )
    tally.add(
        [
            pair(4, "so good", "1", said("positive"), said("negative")),  # "1": the class id of positive
            pair(5, "awful", "great", said("negative"), said("negative")),
        ],
        label_of,
    )  # a label the model lacks
    result = tally.result(bootstrap=200)
    assert (result.rows, result.fail_rate, result.severity) == (4, 0.5, "major")  # by hand: rows 0 and 4 flip
    assert [(f.row, f.perturbed_input, f.original_prediction, f.perturbed_prediction) for f in result.flips] == [
        (0, "GOOD FILM", "positive", "negative"),
        (4, "SO GOOD", "positive", "negative"),
    ]
    accuracy = result.metrics[0]
    assert (accuracy.name, accuracy.original, accuracy.perturbed) == ("accuracy", 1.0, pytest.approx(1 / 3))
    assert result.metric_drop == pytest.approx(2 / 3)
    assert result.fail_rate_ci[0] <= 0.5 <= result.fail_rate_ci[1]


def test_a_perturbation_tally_saved_and_restored_gives_the_same_result():
    from llm_demo.evaluation.tallies import QATally

    tally = PerturbationTally("typos", "qa", QATally)
    tally.add(
        [pair(3, "who won?", ["Ann"], "Ann", "Bob"), pair(7, "where?", ["Paris"], "Paris", "paris.")],
        lambda answer: (answer, 0.9),
    )
    restored = PerturbationTally("typos", "qa", QATally)
    restored.restore(json.loads(json.dumps(tally.state())))
    assert restored.result(bootstrap=50) == tally.result(bootstrap=50)
    assert (tally.result().fail_rate, tally.result().metrics[0].perturbed) == (0.5, 0.5)  # "paris." is still Paris


def test_a_perturbation_that_changed_no_row_has_no_fail_rate():
    from llm_demo.evaluation.tallies import ClassificationTally

    result = PerturbationTally("upper_case", "sentiment", lambda: ClassificationTally(None)).result(bootstrap=10)
    assert (result.rows, result.fail_rate, result.fail_rate_ci, result.severity, result.metric) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_an_answer_fails_only_when_it_changes_beyond_case_punctuation_and_articles():
    assert not failed("qa", "The Eiffel Tower", "eiffel tower.", ["Eiffel Tower"])
    assert failed("qa", "Paris", "London", ["Paris"])


def test_a_translation_fails_when_it_loses_more_than_the_tolerated_chrf():
    reference = "The cat sits on the mat."
    assert not failed("translation", "The cat sits on the mat.", "The cat sits on the mat", reference)
    assert failed("translation", "The cat sits on the mat.", "A dog ran off.", reference)


def test_translation_reports_the_chrf_and_bleu_drop_as_sacrebleu_scores_it():
    from sacrebleu.metrics import BLEU, CHRF

    from llm_demo.evaluation.tallies import TranslationTally

    english = "the cat sat on the red mat today."
    tally = PerturbationTally("upper_case", "translation", TranslationTally)
    tally.add(
        [
            Pair(
                0,
                english,
                "le chat était assis sur le tapis rouge aujourd'hui.",
                "LE CHAT ÉTAIT ASSIS SUR LE TAPIS ROUGE AUJOURD'HUI.",
                english,
                english.upper(),
            )
        ],
        lambda translation: (translation, None),
    )
    result = tally.result(bootstrap=0)
    chrf, bleu = (metric.corpus_score([english.upper()], [[english]]).score for metric in (CHRF(), BLEU()))
    assert [(m.name, m.original, m.perturbed) for m in result.metrics] == [
        ("chrf", pytest.approx(100.0), pytest.approx(chrf)),
        ("bleu", pytest.approx(100.0), pytest.approx(bleu)),
    ]
    assert result.metric_drop == pytest.approx(100.0 - chrf) and result.fail_rate == 1.0


@pytest.mark.parametrize(
    "rate, expected", [(0.10, "major"), (0.05, "medium"), (0.049, "minor"), (0.0, "minor"), (None, None)]
)
def test_severity_thresholds(rate, expected):
    assert severity(rate) == expected


# --- through the runner: perturbed rows are more rows of the same run ------------------------------


def scripted_sentiment(calls: list[int]) -> Predictor:
    """Positive when the text holds the lower-case word "good", with the score 0.95; records each call's size."""
    from llm_demo.models.types import Classification, LabelScore

    def run(texts):
        calls.append(len(texts))
        for start in range(0, len(texts), 3):
            batch = list(range(start, min(start + 3, len(texts))))
            yield (
                batch,
                [Classification([LabelScore("positive" if "good" in texts[i] else "negative", 0.95)]) for i in batch],
            )

    return Predictor("scripted", run, labels=["negative", "positive"])


def test_the_runner_sends_perturbed_rows_with_the_others_and_scores_each_perturbation(tmp_path):
    import csv

    import pandas as pd

    from llm_demo.evaluation import downloads, report
    from llm_demo.evaluation.reading import Table
    from llm_demo.evaluation.recipes import BeyondAccuracy
    from llm_demo.evaluation.run import evaluate

    texts = ["", "good film", "bad", "好", "so good"]  # the empty first row is skipped: table rows != input rows
    table = Table(
        pd.DataFrame({"text": texts, "label": ["positive", "positive", "negative", "positive", "1"]}, dtype=str),
        0,
        "t.csv",
    )
    calls: list[int] = []
    result = evaluate(
        "sentiment",
        table,
        {"text": "text", "label": "label"},
        [scripted_sentiment(calls)],
        tmp_path,
        bootstrap=100,
        beyond=BeyondAccuracy(robustness=True),
    )
    model = result.models[0]
    inputs = ["good film", "bad", "好", "so good"]
    assert calls == [len(inputs) + extra_rows(perturb_rows(inputs))]  # one run, the perturbed rows batched along
    upper = next(item for item in model.robustness if item.perturbation == "upper_case")
    assert (upper.rows, upper.fail_rate, upper.severity) == (3, pytest.approx(2 / 3), "major")
    assert [flip.row for flip in upper.flips] == [1, 4]  # table rows
    assert (upper.metric, upper.metric_drop) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    _, path = downloads.write_downloads(result)
    with result.predictions_path.open(encoding="utf-8-sig", newline="") as file:
        predictions = [row["prediction"] for row in csv.DictReader(file)]
    assert predictions == ["", "positive", "negative", "negative", "positive"]  # the main run is unchanged
    assert model.metrics.accuracy == 0.75 and model.rows_done == 4
    assert report.robustness_summary(result) == [
        "scripted is not robust to: UPPER CASE (67%), Title Case (67%), Typos (5% of letters: neighbouring keys, "
        "swaps) (33%) (share of predictions changed)."
    ]
    written = json.loads(path.read_text(encoding="utf-8"))["models"][0]["robustness"]
    assert {
        key: written[0][key] for key in ("perturbation", "rows", "fail_rate", "metric", "metric_drop", "severity")
    } == {
        "perturbation": "upper_case",
        "rows": 3,
        "fail_rate": pytest.approx(2 / 3),
        "metric": pytest.approx(1 / 3),
        "metric_drop": pytest.approx(2 / 3),
        "severity": "major",
    }
    assert len(written[0]["fail_rate_ci"]) == 2
    assert (written[0]["flips"][0]["row"], written[0]["flips"][0]["perturbed_input"]) == (2, "GOOD FILM")  # 1-based


def test_generation_has_no_reference_to_compare_with(tmp_path):
    import pandas as pd

    from llm_demo.errors import InputError
    from llm_demo.evaluation.reading import Table
    from llm_demo.evaluation.recipes import BeyondAccuracy
    from llm_demo.evaluation.run import Evaluation

    table = Table(pd.DataFrame({"text": ["a b c"]}, dtype=str), 0, "t.csv")
    with pytest.raises(InputError) as error:
        Evaluation(
            "generation",
            table,
            {"text": "text"},
            [scripted_sentiment([])],
            tmp_path,
            beyond=BeyondAccuracy(robustness=True),
        )
    assert error.value.key == "nothing_to_compare"


def test_a_stopped_run_continued_ends_with_the_robustness_and_slices_of_one_run(tmp_path):
    import threading

    import pandas as pd

    from llm_demo.evaluation import downloads
    from llm_demo.evaluation.reading import Table
    from llm_demo.evaluation.recipes import BeyondAccuracy
    from llm_demo.evaluation.run import evaluate

    texts = ["good film", "bad", "so good", "Good plot", "meh 2", "good good", "awful", "这部电影很好看"]
    table = Table(pd.DataFrame({"text": texts, "label": ["positive", "negative"] * 4}, dtype=str), 0, "t.csv")
    beyond = BeyondAccuracy(robustness=True, propose_slices=True)

    def run(folder, **options):
        return evaluate(
            "sentiment",
            table,
            {"text": "text", "label": "label"},
            [scripted_sentiment([])],
            folder,
            window=3,
            beyond=beyond,
            **options,
        )

    def written(result):
        model = json.loads(downloads.write_downloads(result)[1].read_text(encoding="utf-8"))["models"][0]
        return model["robustness"], model["slices"]

    whole = written(run(tmp_path / "whole"))
    cancel = threading.Event()
    stopped = run(tmp_path / "stopped", cancel=cancel, on_progress=lambda progress: cancel.set())
    assert stopped.models[0].status == "cancelled"
    assert written(run(tmp_path / "stopped", resume=True)) == whole
