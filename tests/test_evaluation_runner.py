"""The evaluation recipe on stand-in models (any callable) and on the tiny models: order, labels, cancelling."""

from __future__ import annotations

import csv
import threading

import pandas as pd
import pytest

from llm_demo.errors import ModelError
from llm_demo.evaluation import report
from llm_demo.evaluation.reading import Table
from llm_demo.evaluation.runner import Predictor, evaluate, match_label
from llm_demo.tasks.classification import Classification, LabelScore, classify


def table_of(**columns) -> Table:
    return Table(pd.DataFrame(columns, dtype=str), 0, "test.csv")


def echo_predictor(batch_size: int = 2, fail_after: int | None = None, labels=("negative", "positive")) -> Predictor:
    """Predicts the label written in the text ("... positive"); serves batches longest text first, as the tasks do."""
    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for number, start in enumerate(range(0, len(order), batch_size)):
            if fail_after is not None and number == fail_after:
                raise ModelError("out_of_memory", "Out of memory.")
            batch = order[start:start + batch_size]
            yield batch, [Classification([LabelScore(texts[i].split()[-1], 0.9)]) for i in batch]
    return Predictor("echo", run, labels=list(labels))


SENTIMENT = table_of(text=["a positive", "bb negative", "ccc positive", "dddd negative", "eeeee positive"],
                     label=["positive", "negative", "negative", "negative", "positive"])
COLUMNS = {"text": "text", "label": "label"}


def test_predictions_come_back_in_input_order_with_scikit_learn_metrics():
    result = evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], bootstrap=0)
    model = result.models[0]
    assert model.predictions == ["positive", "negative", "positive", "negative", "positive"]
    assert model.metrics.accuracy == 0.8
    assert model.worst == [2]  # the only misclassified row
    assert model.status == "complete" and model.timing.batches == 3


@pytest.mark.parametrize("reference, expected", [
    ("POSITIVE", "positive"), (" Negative ", "negative"), ("1", "positive"), ("0", "negative"), ("2", None),
    ("pos", None),
])
def test_reference_labels_match_case_insensitively_or_by_class_id(reference, expected):
    assert match_label(reference, ["negative", "positive"]) == expected


def test_unknown_labels_are_counted_and_left_out_of_the_metrics():
    table = table_of(text=["x positive", "y negative", "z positive", "w positive"],
                     label=["POSITIVE", "0", "great", "great"])
    model = evaluate("sentiment", table, COLUMNS, [echo_predictor()], bootstrap=0).models[0]
    assert model.unknown_labels == {"great": 2}
    assert model.metrics.accuracy == 1.0 and sum(c.support for c in model.metrics.per_class) == 2
    assert model.predictions == ["positive", "negative", "positive", "positive"]  # still predicted and shown


def test_zero_shot_candidates_are_the_labels_of_the_file():
    from llm_demo.evaluation.runner import candidate_labels

    assert candidate_labels(["sports", "Food", "SPORTS", "food ", "politics"]) == ["sports", "Food", "politics"]


def test_cancel_keeps_the_finished_rows_and_marks_the_others():
    cancel = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append((progress.done, progress.total))
        cancel.set()

    result = evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor(), echo_predictor()],
                      on_progress=on_progress, cancel=cancel, bootstrap=0)
    first, second = result.models
    assert seen == [(2, 10)]
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert first.predictions == [None, None, None, "negative", "positive"]  # the two longest texts ran first
    assert first.row_status == ["not_finished"] * 3 + ["done"] * 2
    assert first.metrics.accuracy == 1.0 and second.rows_done == 0
    assert not result.finished


def test_a_failure_half_way_keeps_the_rows_that_finished(tmp_path):
    result = evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor(fail_after=1)], bootstrap=0)
    model = result.models[0]
    assert (model.status, model.error) == ("failed", "Out of memory.")
    assert model.rows_done == 2
    _, metrics_path = report.write_downloads(result, tmp_path)
    assert '"rows_not_done": [\n        1,\n        2,\n        3\n      ]' in metrics_path.read_text(encoding="utf-8")


def test_progress_reports_rows_per_second_and_time_left():
    progress = []
    evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], on_progress=progress.append, bootstrap=0)
    assert [p.done for p in progress] == [2, 4, 5]
    assert progress[0].rows_per_second > 0 and progress[0].eta_seconds == pytest.approx(3 / progress[0].rows_per_second)
    assert progress[-1].eta_seconds == 0


def test_rows_with_an_empty_required_cell_are_skipped_not_dropped():
    table = table_of(text=["a positive", "", "c negative"], label=["positive", "negative", ""])
    model = evaluate("sentiment", table, COLUMNS, [echo_predictor()], bootstrap=0).models[0]
    assert model.row_status == ["done", "skipped", "skipped"]


def test_batch_size_caps_rows_per_batch_and_keeps_order(load, registry):
    texts = [f"review number {i} " + "word " * (i % 7) for i in range(23)]
    table = table_of(text=texts, label=["positive"] * 23)
    sizes = []
    result = evaluate("sentiment", table, COLUMNS, ["Tiny BERT sentiment"], registry,
                      on_progress=lambda p: sizes.append(p.done), batch_size=5, bootstrap=0)
    steps = [b - a for a, b in zip([0] + sizes, sizes)]
    assert max(steps) <= 5 and sum(steps) == 23
    expected = classify(load("sentiment", "Tiny BERT sentiment", "sequence-classification"), texts)
    assert result.models[0].predictions == [r.label for r in expected]


def test_tiny_models_evaluate_like_the_tasks_they_reuse(load, registry, tiny):
    table = table_of(text=["good film", "bad film", "很好"], label=["positive", "NEGATIVE", "2"])
    result = evaluate("sentiment", table, COLUMNS, ["Tiny BERT sentiment", str(tiny.sentiment)], registry,
                      budget=64, bootstrap=0)
    expected = classify(load("sentiment", "Tiny BERT sentiment", "sequence-classification"), list(table.frame.text))
    assert [m.predictions for m in result.models] == [[r.label for r in expected]] * 2
    assert result.models[0].timing.device == "cpu · float32"


def test_predictions_csv_has_every_row_and_escapes_formulas(tmp_path):
    table = table_of(text=["=HYPERLINK(1) positive", "+1 negative", "@x positive", "-2 negative", "ok positive"],
                     label=["positive", "negative", "positive", "negative", "positive"])
    result = evaluate("sentiment", table, COLUMNS, [echo_predictor(), echo_predictor(batch_size=5)], bootstrap=0)
    predictions_path, _ = report.write_downloads(result, tmp_path)
    with predictions_path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["text"] for row in rows] == ["'=HYPERLINK(1) positive", "'+1 negative", "'@x positive",
                                             "'-2 negative", "ok positive"]
    assert [row["prediction"] for row in rows] == ["positive", "negative", "positive", "negative", "positive"]
    assert rows[0]["prediction [echo]"] == "positive" and "status [echo]" in rows[0]
