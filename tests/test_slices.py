"""Metrics per slice equal scikit-learn's on each group; proposed slices name what they hold."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import accuracy_score, f1_score

from llm_demo.errors import InputError
from llm_demo.evaluation.metrics import qa_score
from llm_demo.evaluation.slices import Quartiles, SliceTally, column_slicer, proposed_slicers, script_of
from llm_demo.evaluation.tallies import ClassificationTally, QATally
from llm_demo.models.types import Classification, LabelScore

GROUPS = ["news", "news", "news", "news", "forum", "forum", "forum", "review", "review", "review"]
REFERENCES = ["pos", "neg", "pos", "neu", "pos", "neg", "neg", "neu", "pos", "pos"]
PREDICTIONS = ["pos", "neg", "neg", "neu", "neg", "neg", "pos", "neu", "pos", "pos"]
CONFIDENT_WRONG = [False, False, True, False, True, False, False, False, False, False]
LABELS = ["neg", "neu", "pos"]


def classification_slices(rows_per_call: int) -> SliceTally:
    """The rows counted in, `rows_per_call` at a time (as windows of a run would)."""
    tally = SliceTally(lambda: ClassificationTally(LABELS))
    results = [Classification([LabelScore(p, 0.5)]) for p in PREDICTIONS]
    for start in range(0, len(GROUPS), rows_per_call):
        part = slice(start, start + rows_per_call)
        tally.add("source", GROUPS[part], REFERENCES[part], PREDICTIONS[part], results[part], CONFIDENT_WRONG[part])
    return tally


def overall():
    whole = ClassificationTally(LABELS)
    whole.add(REFERENCES, PREDICTIONS, [Classification([LabelScore(p, 0.5)]) for p in PREDICTIONS])
    return whole.metrics(0)


@pytest.mark.parametrize("rows_per_call", [10, 3])
def test_slice_metrics_equal_scikit_learn_per_group(rows_per_call):
    results = classification_slices(rows_per_call).results(("accuracy", "macro_f1"), overall(), bootstrap=200)
    assert [(r.column, r.value, r.rows) for r in results] == [
        ("source", "forum", 3),
        ("source", "news", 4),
        ("source", "review", 3),
    ]
    for result in results:
        rows = [i for i, group in enumerate(GROUPS) if group == result.value]
        refs, preds = [REFERENCES[i] for i in rows], [PREDICTIONS[i] for i in rows]
        assert result.metrics["accuracy"] == pytest.approx(accuracy_score(refs, preds))
        present = sorted(set(refs) | set(preds))
        assert result.metrics["macro_f1"] == pytest.approx(
            f1_score(refs, preds, labels=present, average="macro", zero_division=0)
        )
        assert result.gaps["accuracy"] == pytest.approx(
            accuracy_score(refs, preds) - accuracy_score(REFERENCES, PREDICTIONS)
        )
        low, high = result.intervals["accuracy"]
        assert low <= result.metrics["accuracy"] <= high
    assert [r.confident_wrong for r in results] == [pytest.approx(1 / 3), 0.25, 0.0]


def test_slice_tallies_saved_and_restored_give_the_same_slices():
    saved = classification_slices(4)
    restored = SliceTally(lambda: ClassificationTally(LABELS))
    restored.restore(json.loads(json.dumps(saved.state())))
    assert restored.results(("accuracy",), overall(), 100) == saved.results(("accuracy",), overall(), 100)


def test_question_answering_slices_average_the_squad_scores_of_their_rows():
    answers = [["Paris"], ["the Nile"], ["1969"], ["blue whale"]]
    predictions = ["Paris", "Nile river", "1968", "whale"]
    tally = SliceTally(QATally)
    tally.add("script", ["latin", "latin", "other", "other"], answers, predictions, [None] * 4, None)
    for result, rows in zip(tally.results(("f1", "exact_match"), None, 0), ([0, 1], [2, 3])):
        scores = [qa_score(predictions[i], answers[i]) for i in rows]
        assert result.metrics["f1"] == pytest.approx(sum(s.f1 for s in scores) / 2)
        assert result.metrics["exact_match"] == sum(s.exact_match for s in scores) / 2
        assert result.confident_wrong is None


def test_proposed_slices_are_length_quartiles_digits_and_writing_system():
    texts = [
        "ok",
        "fine film",
        "这部电影很好看",
        "Top 10 of 2024",
        "Das ist 好",
        "Привет",
        "!!!",
        "a much longer review",
    ]
    slicers = proposed_slicers(iter(texts))
    assert [slicers["digits"](t) for t in texts] == ["no_digits", "no_digits", "no_digits", "digits"] + [
        "no_digits"
    ] * 4
    assert [slicers["script"](t) for t in texts] == [
        "latin",
        "latin",
        "cjk",
        "latin",
        "mixed",
        "other",
        "none",
        "latin",
    ]
    assert [slicers["length"](t) for t in texts] == [
        "Q1 (2–3)",
        "Q3 (9)",
        "Q2 (6–7)",
        "Q4 (14–20)",
        "Q3 (9)",
        "Q2 (6–7)",
        "Q1 (2–3)",
        "Q4 (14–20)",
    ]


def test_quartiles_merge_when_values_repeat():
    quartiles = Quartiles([1, 1, 1, 1, 5])
    assert [quartiles(v) for v in (1, 5)] == ["Q1 (1)", "Q2 (5)"]


def test_script_of_kana_and_hangul_is_cjk():
    assert (script_of("ありがとう"), script_of("감사합니다"), script_of("Café")) == ("cjk", "cjk", "latin")
    assert (script_of("ㅋㅋㅋ"), script_of("䷀"), script_of("123")) == (
        "cjk",
        "none",
        "none",
    )  # a hexagram is no letter


def test_a_column_of_few_values_slices_by_value_and_names_empty_cells():
    slicer = column_slicer("source", iter(["web ", "", "news"]))
    assert [slicer(v) for v in ("web ", "", "news")] == ["web", "(empty)", "news"]


def test_a_numeric_column_of_many_values_slices_by_quartile():
    slicer = column_slicer("stars", (str(v) for v in range(1, 41)))
    assert [slicer(str(v)) for v in (1, 11, 21, 31, 40)] == [
        "Q1 (1–10)",
        "Q2 (11–20)",
        "Q3 (21–30)",
        "Q4 (31–40)",
        "Q4 (31–40)",
    ]


def test_a_text_column_is_refused_as_a_slice_column():
    with pytest.raises(InputError) as error:
        column_slicer("text", (f"review {i}" for i in range(25)))
    assert error.value.key == "too_many_slices" and "more than 20 different values" in str(error.value)


def test_the_runner_reports_slices_of_a_column_and_proposed_slices_in_metrics_json(tmp_path):
    import pandas as pd

    from llm_demo.evaluation import downloads, report
    from llm_demo.evaluation.reading import Table
    from llm_demo.evaluation.recipes import BeyondAccuracy
    from llm_demo.evaluation.results import Predictor
    from llm_demo.evaluation.run import evaluate

    def run(texts):
        yield list(range(len(texts))), [Classification([LabelScore(t.split()[-1], 0.95)]) for t in texts]

    table = Table(
        pd.DataFrame(
            {
                "text": ["a pos", "b neg", "c pos", "数字 12 neg"],
                "label": ["pos", "pos", "pos", "neg"],
                "source": ["web", "web", "news", "news"],
            },
            dtype=str,
        ),
        0,
        "t.csv",
    )
    result = evaluate(
        "sentiment",
        table,
        {"text": "text", "label": "label"},
        [Predictor("echo", run, ["neg", "pos"])],
        tmp_path,
        bootstrap=0,
        window=3,
        beyond=BeyondAccuracy(slice_column="source", propose_slices=True),
    )
    _, path = downloads.write_downloads(result)
    slices = json.loads(path.read_text(encoding="utf-8"))["models"][0]["slices"]
    by_value = {(s["column"], s["value"]): s for s in slices}
    assert {k: by_value[("source", "web")][k] for k in ("rows", "accuracy", "accuracy_gap", "confident_wrong")} == {
        "rows": 2,
        "accuracy": 0.5,
        "accuracy_gap": -0.25,
        "confident_wrong": 0.5,
    }
    assert (by_value[("source", "news")]["accuracy"], by_value[("script", "mixed")]["rows"]) == (1.0, 1)
    assert by_value[("digits", "digits")]["accuracy"] == 1.0
    assert [s["column"] for s in slices] == ["source"] * 2 + ["length"] * 2 + ["digits"] * 2 + ["script"] * 2
    assert not report.slices_frame(result).empty


def test_a_slice_column_the_file_lacks_is_named_with_the_columns_it_has(tmp_path):
    import pandas as pd

    from llm_demo.evaluation.reading import Table
    from llm_demo.evaluation.recipes import BeyondAccuracy
    from llm_demo.evaluation.results import Predictor
    from llm_demo.evaluation.run import Evaluation

    table = Table(pd.DataFrame({"text": ["a"], "label": ["x"]}, dtype=str), 0, "t.csv")
    with pytest.raises(InputError, match="'t.csv' has no column 'sauce' \\(it has: text, label\\)"):
        Evaluation(
            "sentiment",
            table,
            {"text": "text", "label": "label"},
            [Predictor("none", lambda texts: [])],
            tmp_path,
            beyond=BeyondAccuracy(slice_column="sauce"),
        )
