"""`python -m llm_demo evaluate`: the files it writes, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import evaluate_args, read_predictions, write

from llm_demo.__main__ import main
from llm_demo.tasks.classification import classify
from llm_demo.tasks.qa import QASettings, answer

ROOT = Path(__file__).resolve().parent.parent


def test_evaluate_writes_metrics_and_predictions_in_a_fresh_process(tiny, tmp_path, load):
    data = write(tmp_path, "reviews.csv", '\ufeffreview;stars\n"good, really";POSITIVE\n\nbad;0\nmeh;5\n')
    out = tmp_path / "out"
    process = subprocess.run(
        evaluate_command(data, out, "--text-column", "review", "--label-column", "stars"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.returncode == 0, process.stderr
    assert "Accuracy" in process.stdout and "Macro F1" in process.stdout
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    model = metrics["models"][0]
    assert (metrics["rows"], metrics["blank_lines_skipped"], model["unknown_labels"]) == (3, 1, {"5": 1})
    expected = classify(
        load("sentiment", "Tiny BERT sentiment", "sequence-classification"), ["good, really", "bad", "meh"]
    )
    assert [row["prediction"] for row in read_predictions(out)] == [r.label for r in expected]
    assert model["metrics"]["accuracy"] == pytest.approx(
        sum(r.label == gold for r, gold in zip(expected, ["positive", "negative"])) / 2
    )


def test_several_models_get_a_prediction_column_each(tiny, tmp_path, load):
    data = write(tmp_path, "qa.csv", 'question,context,answers\nWhere?,"The tower is in Paris.","[""Paris""]"\n')
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "qa",
                "--model",
                "Tiny BERT QA",
                "--model",
                "Tiny BERT QA (SQuAD2)",
                "--csv",
                str(data),
                "--out",
                str(out),
                "--batch-size",
                "1",
            ]
        )
        == 0
    )
    row = read_predictions(out)[0]
    loaded = load("qa", "Tiny BERT QA", "question-answering")
    expected = answer(loaded, ["Where?"], ["The tower is in Paris."])[0][0].text
    no_answer = answer(loaded, ["Where?"], ["The tower is in Paris."], QASettings(allow_no_answer=True))[0][0].text
    assert row["prediction"] == row["prediction [Tiny BERT QA]"] == expected
    assert row["prediction [Tiny BERT QA (SQuAD2)]"] == no_answer
    assert [m["model"] for m in json.loads((out / "metrics.json").read_text())["models"]] == [
        "Tiny BERT QA",
        "Tiny BERT QA (SQuAD2)",
    ]


def test_translation_and_generation_report_their_corpus_metrics(tiny, tmp_path, capsys):
    data = write(tmp_path, "pairs.tsv", "source\treference\nHello there.\tBonjour.\n")
    assert main(evaluate_args(data, tmp_path / "t", task="translation", model="Tiny BART")) == 0
    assert set(json.loads((tmp_path / "t" / "metrics.json").read_text())["models"][0]["metrics"]) == {
        "bleu",
        "chrf",
        "ter",
        "signatures",
    }
    data = write(tmp_path, "texts.jsonl", '{"text": "Hello world, how are you today?"}\n')
    assert main(evaluate_args(data, tmp_path / "g", task="generation", model="Tiny GPT-2")) == 0
    assert "Perplexity" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, content, extra, message",
    [
        ("empty.csv", b"", [], "'empty.csv' is empty."),
        ("gbk.csv", "text,label\n很好,positive\n".encode("gbk"), [], "is not UTF-8 text"),
        ("ok.csv", b"text,label\nfine,positive\n", ["--label-column", "gold"], "has no column 'gold'"),
        ("nolabel.csv", b"body\nfine\n", [], "Choose the label column"),
        ("ok.csv", b"text,label\nfine,positive\n", ["--model", "nobody/no-such-model"], "nobody/no-such-model"),
        ("ok.csv", b"text,label\nfine,positive\n", ["--model", "Tiny BERT sentimnt"], "not a valid model id"),
        ("ok.csv", b"text,label\nfine,positive\n", ["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(tiny, tmp_path, capsys, name, content, extra, message):
    data = write(tmp_path, name, content)
    model = [] if "--model" in extra else ["--model", "Tiny BERT sentiment"]
    code = main(["evaluate", "--task", "sentiment", *model, "--csv", str(data), "--out", str(tmp_path / "o"), *extra])
    error = capsys.readouterr().err
    assert code == 2
    assert message in error and len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert not (tmp_path / "o").exists()


def test_missing_file_and_row_cap_are_explained(tiny, tmp_path, capsys, monkeypatch):
    assert main(evaluate_args(tmp_path / "nope.csv", tmp_path / "o")) == 2
    assert "There is no file" in capsys.readouterr().err
    monkeypatch.setenv("LLM_DEMO_MAX_EVAL_ROWS", "1")
    data = write(tmp_path, "two.csv", "text,label\na,positive\nb,negative\n")
    assert main(evaluate_args(data, tmp_path / "o")) == 2
    assert "has 2 rows; this deployment evaluates at most 1" in capsys.readouterr().err


def test_registering_the_evaluate_command_needs_no_heavy_imports():
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "import argparse, sys; import llm_demo.evaluation.cli as cli; "
            "cli.add_parser(argparse.ArgumentParser().add_subparsers()); "
            "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'pandas', 'gradio') "
            "if m in sys.modules))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.stdout.strip() == "[]", process.stderr


def evaluate_command(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llm_demo", *evaluate_args(data, out, "--window", "200", *extra)]


def test_a_run_killed_at_a_random_point_resumes_to_the_metrics_of_an_uninterrupted_run(tiny, tmp_path):
    rng = random.Random()
    lines = [
        f"{' '.join(rng.choice(['good', 'bad', 'film', 'plot']) for _ in range(rng.choice([3, 5, 12])))},"
        f"{rng.choice(['positive', 'negative', 'neutral'])}"
        for _ in range(3000)
    ]
    data = write(tmp_path, "reviews.csv", "text,label\n" + "\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert (
        subprocess.run(evaluate_command(data, whole), cwd=ROOT, env=env, capture_output=True, timeout=300).returncode
        == 0
    )
    kill_after = rng.randrange(200, 2800)  # rows saved before the kill
    process = subprocess.Popen(
        evaluate_command(data, killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while process.poll() is None:
            state = json.loads((killed / "state.json").read_text()) if (killed / "state.json").exists() else {}
            if state.get("next_row", 0) >= kill_after:
                break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    done = read_predictions(killed)
    assert 0 < len(done) < 3000 and {row["status"] for row in done} == {"done"}, kill_after  # the rows done, valid
    resumed = subprocess.run(
        evaluate_command(data, killed, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    expected, got = (json.loads((folder / "metrics.json").read_text()) for folder in (whole, killed))
    for metrics in (expected, got):
        for model in metrics["models"]:
            del model["timing"]
    assert got == expected, kill_after
    assert (killed / "predictions.csv").read_bytes() == (whole / "predictions.csv").read_bytes()


def test_robustness_and_slices_are_written_to_metrics_json(tiny, tmp_path, load):
    from sklearn.metrics import accuracy_score

    from llm_demo.evaluation.robustness import PERTURBATIONS, perturb

    texts = ["good film", "Bad film!", "这部电影很好看。", "terrible 2 hours", "fine"]
    labels = ["positive", "negative", "positive", "negative", "neutral"]
    sources = ["web", "web", "weibo", "weibo", "web"]
    data = write(
        tmp_path,
        "reviews.csv",
        "text,label,source\n"
        + "".join(f"{text},{label},{source}\n" for text, label, source in zip(texts, labels, sources)),
    )
    out = tmp_path / "out"
    assert main(evaluate_args(data, out, "--robustness", "--slice-column", "source")) == 0
    model = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["models"][0]
    loaded = load("sentiment", "Tiny BERT sentiment", "sequence-classification")
    original = [r.label for r in classify(loaded, texts)]
    assert [item["perturbation"] for item in model["robustness"]] == list(PERTURBATIONS)
    for item in model["robustness"]:
        changed = [i for i, text in enumerate(texts) if perturb(item["perturbation"], text) != text]
        after = [r.label for r in classify(loaded, [perturb(item["perturbation"], texts[i]) for i in changed])]
        flipped = sum(original[i] != label for i, label in zip(changed, after))
        assert (item["rows"], item["fail_rate"]) == (len(changed), pytest.approx(flipped / len(changed)))
        assert item["severity"] in {"major", "medium", "minor"} and len(item["fail_rate_ci"]) == 2
    upper = model["robustness"][0]
    assert upper["rows"] == 4 and upper["metric_drop"] == pytest.approx(
        upper["metrics"][0]["original"] - upper["metric"]
    )
    for entry in model["slices"]:
        rows = [i for i, source in enumerate(sources) if source == entry["value"]]
        assert entry["column"] == "source" and entry["rows"] == len(rows)
        assert entry["accuracy"] == pytest.approx(
            accuracy_score([labels[i] for i in rows], [original[i] for i in rows])
        )
    assert [entry["value"] for entry in model["slices"]] == ["web", "weibo"]
