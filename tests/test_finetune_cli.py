"""`python -m llm_demo finetune`: the fine-tuning tab's work from the shell."""

from __future__ import annotations

import json

import pandas as pd
from test_finetune import topic_sentences

from llm_demo.__main__ import USAGE_ERROR, main


def test_finetune_command_guesses_columns_trains_and_saves(tiny, tmp_path, capsys):
    rows = topic_sentences(90, seed=5)
    csv = tmp_path / "topics.csv"
    pd.DataFrame({"id": range(90), "sentence": rows.texts, "category": rows.labels}).to_csv(csv, index=False)
    out = tmp_path / "model"
    code = main(
        [
            "finetune",
            "--model",
            "all-MiniLM-L6-v2",
            "--csv",
            str(csv),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--learning-rate",
            "5e-5",
            "--max-length",
            "32",
            "--seed",
            "7",
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"saved {out} (best: epoch 1,")
    assert "labels: food, sport, weather" in printed.out
    assert printed.err.startswith("epoch 1: train loss ")
    record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert (record["train_rows"], record["validation_rows"], record["settings"]["seed"]) == (72, 18, 7)
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "food", "1": "sport", "2": "weather"}


def test_finetune_command_refuses_a_single_label_in_one_line(tiny, tmp_path, capsys):
    csv = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x"] * 4}).to_csv(csv, index=False)
    assert (
        main(["finetune", "--model", "all-MiniLM-L6-v2", "--csv", str(csv), "--out", str(tmp_path / "m")])
        == USAGE_ERROR
    )
    assert capsys.readouterr().err == "error: Training needs at least two different labels; the label column has x.\n"
    assert not (tmp_path / "m").exists()
