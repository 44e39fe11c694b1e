"""The evaluation tab through its public /evaluate endpoint, with an uploaded file, as gradio_client sees it."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from helpers import read_rows

from llm_demo.tasks.classification import classify
from llm_demo.ui.evaluation_tab import EXAMPLES, EXAMPLES_DIR, TEXT, model_choices

ROLES = ("text", "label", "question", "context", "answer", "source", "reference")


def columns(**chosen) -> list:
    return [chosen.get(role) for role in ROLES]


def test_uploaded_file_is_evaluated_and_offered_for_download(client, load, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("\ufefftext,label\n=bad idea,negative\n好,POSITIVE\nfine,neutral\n", encoding="utf-8")
    status, summary, per_class, worst, _, files, *_ = client.predict(
        handle_file(str(data)),
        "sentiment",
        ["Tiny BERT sentiment"],
        *columns(text="text", label="label"),
        api_name="/evaluate",
    )
    expected = classify(
        load("sentiment", "Tiny BERT sentiment", "sequence-classification"), ["=bad idea", "好", "fine"]
    )
    assert status.startswith("Finished: 3 rows, 1 model(s).")
    assert summary["headers"][:4] == ["Model", "Status", "Rows done", "Accuracy"]
    accuracy = sum(r.label == gold for r, gold in zip(expected, ["negative", "positive", "neutral"])) / 3
    assert summary["data"][0][:4] == ["Tiny BERT sentiment", "complete", 3, round(accuracy, 4)]
    assert sum(row[-1] for row in per_class["data"]) == 3
    by_name = {Path(path).name: Path(path) for path in files}
    rows = read_rows(by_name["predictions.csv"])
    assert [row["text"] for row in rows] == ["'=bad idea", "好", "fine"]
    assert [row["prediction"] for row in rows] == [r.label for r in expected]
    assert json.loads(by_name["metrics.json"].read_text(encoding="utf-8"))["models"][0]["rows_done"] == 3


def test_bad_upload_gets_a_clear_message_in_the_readers_language(app_url, tmp_path):
    from gradio_client import Client

    data = tmp_path / "gbk.csv"
    data.write_bytes("text,label\n很好,positive\n".encode("gbk"))
    chinese = Client(app_url, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError, match="不是 UTF-8 文本"):
        chinese.predict(
            handle_file(str(data)),
            "sentiment",
            ["Tiny BERT sentiment"],
            *columns(text="text", label="label"),
            api_name="/evaluate",
        )


def test_every_example_file_reads_and_has_its_columns_guessed():
    from llm_demo.evaluation.columns import guess_columns
    from llm_demo.evaluation.reading import read_table

    for name, task in EXAMPLES:
        table = read_table(EXAMPLES_DIR / name)
        assert None not in guess_columns(list(table.frame.columns), task).values(), name


def test_zero_shot_offers_only_nli_models(registry):
    assert model_choices(registry, "zero-shot") == ["Tiny BERT NLI"]
    assert model_choices(registry, "classification") == ["Tiny BERT classifier"]
    assert all(f"evaluation.task.{task}" in TEXT for task in ("classification", "zero-shot", "qa"))


def test_partial_results_are_shown_while_running_so_cancel_keeps_them(registry, tmp_path, monkeypatch):
    from llm_demo.ui import evaluation_tab

    monkeypatch.setattr(evaluation_tab, "SNAPSHOT_SECONDS", -1)  # a snapshot after every batch
    monkeypatch.setenv("LLM_DEMO_TOKEN_BUDGET", "64")
    data = tmp_path / "many.csv"
    data.write_text("text,label\n" + "".join(f"{'word ' * (i % 9 + 1)}{i},positive\n" for i in range(40)))
    run = evaluation_tab.run_evaluation(
        registry,
        str(data),
        "sentiment",
        ["Tiny BERT sentiment"],
        *columns(text="text", label="label"),
        False,
        None,
        False,
        None,
        lambda *a, **k: None,
    )
    status, summary, _, _, _, files, *_ = next(run)
    run.close()  # what Gradio does when Cancel is pressed
    done = summary.iloc[0]["Rows done"]
    assert 0 < done < 40 and status.startswith(f"Partial results so far: {done} of 40 rows.")
    statuses = [row["status"] for row in read_rows(next(f for f in files if f.endswith(".csv")))]
    assert statuses.count("done") == done and statuses.count("not_finished") == 40 - done


def test_continue_finishes_a_cancelled_run_without_redoing_its_rows(registry, tmp_path, monkeypatch):
    from llm_demo.evaluation import run as runner
    from llm_demo.ui import evaluation_tab

    monkeypatch.setattr(evaluation_tab, "SNAPSHOT_SECONDS", -1)
    monkeypatch.setattr(evaluation_tab, "Evaluation", functools.partial(runner.Evaluation, window=10))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # a download folder of this test's own
    monkeypatch.setenv("LLM_DEMO_TOKEN_BUDGET", "64")
    data = tmp_path / "many.csv"
    data.write_text("text,label\n" + "".join(f"{'word ' * (i % 9 + 1)}{i},positive\n" for i in range(40)))
    arguments = (
        registry,
        str(data),
        "sentiment",
        ["Tiny BERT sentiment"],
        *columns(text="text", label="label"),
        False,
        "",
        False,
        None,
        lambda *a, **k: None,
    )
    with pytest.raises(Exception, match="no stopped run of this file"):
        next(evaluation_tab.continue_evaluation(*arguments))
    run = evaluation_tab.run_evaluation(*arguments)
    while next(run)[1].iloc[0]["Rows done"] <= 20:  # into the third window of ten rows
        pass
    run.close()
    started = []
    original = runner.Evaluation.call_model

    def recording(self, outcome, window):
        started.append(window.start)
        return original(self, outcome, window)

    monkeypatch.setattr(runner.Evaluation, "call_model", recording)
    *_, (status, summary, _, _, _, files, *_) = evaluation_tab.continue_evaluation(*arguments)
    assert started == [20, 30] and status.startswith("Finished: 40 rows") and summary.iloc[0]["Rows done"] == 40
    assert [row["status"] for row in read_rows(next(f for f in files if f.endswith(".csv")))] == ["done"] * 40


def test_robustness_and_slices_come_back_as_tables_and_a_chart(client, tmp_path):
    from llm_demo.evaluation.robustness import PERTURBATIONS

    data = tmp_path / "reviews.csv"
    data.write_text(
        "text,label,source\ngood film,positive,web\nBad film!,negative,web\n这部电影很好看。,positive,weibo\n",
        encoding="utf-8",
    )
    *_, robustness, chart, flips, slices, _, _ = client.predict(
        handle_file(str(data)),
        "sentiment",
        ["Tiny BERT sentiment"],
        *columns(text="text", label="label"),
        True,
        "source",
        False,
        api_name="/evaluate",
    )
    assert robustness["headers"][:4] == ["Model", "Perturbation", "Rows perturbed", "Fail rate"]
    assert len(robustness["data"]) == len(PERTURBATIONS) and chart is not None
    assert [row[2] for row in robustness["data"]][:2] == [2, 1]  # upper and lower case leave the Chinese row alone
    assert flips["headers"][3:5] == ["Original input", "Perturbed input"]
    assert [(row[1], row[2], row[3]) for row in slices["data"]] == [("source", "web", 2), ("source", "weibo", 1)]
