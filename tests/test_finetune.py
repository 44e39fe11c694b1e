"""Fine-tuning the real all-MiniLM-L6-v2 encoder on sentences whose topic follows from their words."""

from __future__ import annotations

import json
import random
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from gradio_client import handle_file
from helpers import entry
from sklearn.metrics import accuracy_score

from llm_demo.errors import InputError, ModelError
from llm_demo.finetune import (
    RECORD_FILE,
    EpochResult,
    FinetuneJob,
    FinetuneSettings,
    LabelledRows,
    StepLoss,
    capped,
    finetune,
    labelled_rows,
    push_to_hub,
    resolve_base_model,
    split_rows,
)
from llm_demo.models import get_model
from llm_demo.tasks.classification import classify, label_names

TOPICS = {
    "sport": ["football", "tennis", "goal", "match", "team", "coach", "stadium", "player"],
    "food": ["pizza", "soup", "bread", "cheese", "salad", "noodles", "dinner", "recipe"],
    "weather": ["rain", "snow", "storm", "sunshine", "wind", "cloud", "forecast", "thunder"],
}
FILLER = ["the", "today", "we", "talked", "about", "a", "great", "new", "really", "saw", "my", "friend"]
FAST = FinetuneSettings(epochs=3, learning_rate=5e-5, batch_size=16, max_length=32, patience=0)
BASE = "all-MiniLM-L6-v2"  # the tiny-model registry's finetune entry


def topic_sentences(count: int, seed: int) -> LabelledRows:
    """Short sentences: three filler words and two words of one topic, which is the label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        topic = list(TOPICS)[index % len(TOPICS)]
        words = rng.sample(FILLER, 3) + rng.sample(TOPICS[topic], 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(topic)
    return LabelledRows(texts, labels)


@pytest.fixture(scope="module")
def trained(registry, tmp_path_factory):
    """One full training run shared by the tests that inspect its result."""
    rows = topic_sentences(300, seed=0)
    out = registry.settings.finetune_dir / "topics"
    events: list = []
    result = finetune(resolve_base_model(registry, BASE), rows, out, FAST, on_progress=events.append)
    return rows, result, events


def _validation(rows: LabelledRows, settings: FinetuneSettings) -> tuple[list[str], list[str]]:
    _, validation = split_rows(rows.labels, settings.validation_fraction, settings.seed)
    return [rows.texts[i] for i in validation], [rows.labels[i] for i in validation]


def test_validation_accuracy_rises_well_above_chance(trained):
    _, result, events = trained
    assert result.stopped_by == "finished"
    assert [epoch.epoch for epoch in result.epochs] == [1.0, 2.0, 3.0]
    assert result.best.accuracy >= 0.9  # chance is 1/3
    assert (result.train_rows, result.validation_rows) == (240, 60)
    steps = [event for event in events if isinstance(event, StepLoss)]
    assert [step.step for step in steps] == list(range(1, 3 * 15 + 1))  # 240 rows / 16 = 15 steps an epoch
    assert sum(s.loss for s in steps[-15:]) < sum(s.loss for s in steps[:15])
    assert [event for event in events if isinstance(event, EpochResult)] == result.epochs


def test_saved_model_classifies_unseen_sentences_through_the_classification_task(trained, registry):
    _, result, _ = trained
    assert "topics (fine-tuned)" in registry.choices("classification")
    assert "topics (fine-tuned)" in registry.choices("sentiment")
    loaded = get_model(registry.resolve("classification", "topics (fine-tuned)"), "sequence-classification")
    assert label_names(loaded) == ["food", "sport", "weather"] == result.label_names
    held_out = topic_sentences(60, seed=99)
    predicted = [c.label for c in classify(loaded, held_out.texts)]
    assert accuracy_score(held_out.labels, predicted) >= 0.9


def test_saved_weights_are_the_best_epochs(trained, registry):
    rows, result, _ = trained
    loaded = get_model(registry.resolve("classification", "topics (fine-tuned)"), "sequence-classification")
    texts, labels = _validation(rows, FAST)
    predicted = [c.label for c in classify(loaded, texts)]
    assert accuracy_score(labels, predicted) == pytest.approx(result.best.accuracy)
    assert result.best == max(result.epochs, key=lambda e: (e.macro_f1, -e.validation_loss))
    record = json.loads((result.output_dir / RECORD_FILE).read_text(encoding="utf-8"))
    assert record["best_epoch"] == result.best.epoch and record["label_names"] == result.label_names


def test_stop_mid_training_saves_the_best_epoch_and_training_resumes_from_it(registry, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_DTYPE", "float32")  # both evaluations in fp32, so their losses agree to 1e-4
    rows = topic_sentences(300, seed=1)
    out = registry.settings.finetune_dir / "stopped"
    stop = threading.Event()

    def stop_three_steps_into_the_second_epoch(event):
        if isinstance(event, StepLoss) and event.step == 15 + 3:
            stop.set()

    stopped = finetune(
        resolve_base_model(registry, BASE), rows, out, FAST, stop_three_steps_into_the_second_epoch, stop
    )
    assert stopped.stopped_by == "user"
    assert [epoch.epoch for epoch in stopped.epochs] == [1.0, 1.2]
    assert stopped.best == max(stopped.epochs, key=lambda e: (e.macro_f1, -e.validation_loss))

    # Resuming from the saved folder: stopped before its first step, the evaluation sees the saved weights.
    already_stopped = threading.Event()
    already_stopped.set()
    resumed = finetune(
        resolve_base_model(registry, str(out)),
        rows,
        registry.settings.finetune_dir / "resumed",
        FAST,
        stop=already_stopped,
    )
    assert resumed.label_names == stopped.label_names
    assert resumed.epochs[0].epoch == 0.0 and resumed.epochs[0].train_loss is None
    assert resumed.epochs[0].accuracy == stopped.best.accuracy
    assert resumed.epochs[0].validation_loss == pytest.approx(stopped.best.validation_loss, abs=1e-4)


def test_background_job_stopped_at_once_saves_the_untrained_model_of_a_capped_sample(registry, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_MAX_FINETUNE_ROWS", "90")
    out = registry.settings.finetune_dir / "capped"
    job = FinetuneJob(resolve_base_model(registry, BASE), topic_sentences(300, seed=2), out, FAST).start()
    job.stop()  # still loading the model: no step is taken
    assert job.wait(60)
    result = job.outcome()
    assert (result.stopped_by, job.steps, job.epochs) == ("user", [], result.epochs)
    assert [epoch.epoch for epoch in result.epochs] == [0.0]
    assert (result.train_rows, result.validation_rows) == (72, 18)
    assert (out / "config.json").is_file()


def test_cap_keeps_file_order_and_is_reproducible():
    rows = LabelledRows([f"t{i}" for i in range(50)], [str(i % 2) for i in range(50)])
    sample = capped(rows, 10, seed=3)
    assert len(sample.texts) == 10 and sample.texts == sorted(sample.texts, key=lambda t: int(t[1:]))
    assert capped(rows, 10, seed=3) == sample
    assert capped(rows, 0, seed=3) is rows and capped(rows, 50, seed=3) is rows


def test_validation_split_is_stratified():
    labels = ["a"] * 80 + ["b"] * 20
    train, validation = split_rows(labels, 0.2, seed=0)
    assert sorted(train + validation) == list(range(100))
    assert [labels[i] for i in validation].count("b") == 4


def test_blank_texts_and_labels_are_left_out_and_counted():
    frame = pd.DataFrame({"review": ["good", "", "bad", "meh"], "stars": ["5", "1", "", "3"]})
    rows = labelled_rows(frame, "review", "stars")
    assert (rows.texts, rows.labels, rows.skipped) == (["good", "meh"], ["5", "3"], 2)


BAD_DATA = [
    ("no_such_column", LabelledRows([], []), {"text_column": "body"}),
    ("one_class", LabelledRows(["a", "b", "c", "d"], ["x"] * 4), {}),
    ("too_few_per_label", LabelledRows(["a", "b", "c", "d", "e"], ["x", "x", "x", "x", "y"]), {}),
    ("split_too_small", LabelledRows([str(i) for i in range(6)], ["x", "y", "z"] * 2), {}),
    ("bad_setting", topic_sentences(30, 0), {"settings": FinetuneSettings(epochs=1000)}),
    ("bad_setting", topic_sentences(30, 0), {"settings": FinetuneSettings(learning_rate=1.0)}),
    ("bad_setting", topic_sentences(30, 0), {"settings": FinetuneSettings(validation_fraction=0.9)}),
]


@pytest.mark.parametrize("key, rows, options", BAD_DATA, ids=[f"{case[0]}-{i}" for i, case in enumerate(BAD_DATA)])
def test_unusable_data_and_settings_are_refused_before_loading_the_model(registry, tmp_path, key, rows, options):
    if "text_column" in options:
        frame = pd.DataFrame({"text": ["a"], "label": ["x"]})
        with pytest.raises(InputError) as caught:
            labelled_rows(frame, options["text_column"], "label")
    else:
        missing = entry("/no/such/model", "missing", "finetune")  # refused before loading
        with pytest.raises(InputError) as caught:
            finetune(missing, rows, tmp_path / "out", options.get("settings", FAST))
    assert caught.value.key == key


def test_an_existing_model_folder_is_never_overwritten(registry, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(InputError) as caught:
        finetune(resolve_base_model(registry, BASE), topic_sentences(30, 0), tmp_path / "taken", FAST)
    assert caught.value.key == "output_exists"


def test_hub_upload_offline_fails_with_a_clear_message(tmp_path):
    with pytest.raises(ModelError) as caught:
        push_to_hub(tmp_path, "someone/model", "hf_token")
    assert caught.value.key == "hub_push_unreachable"
    with pytest.raises(InputError) as caught:
        push_to_hub(tmp_path, "someone/model", "")
    assert caught.value.key == "hub_details_missing"


def test_finetune_endpoint_streams_progress_and_returns_the_zipped_model(client, registry, tmp_path):
    rows = topic_sentences(150, seed=4)
    csv = tmp_path / "topics.csv"
    pd.DataFrame({"sentence": rows.texts, "topic": rows.labels}).to_csv(csv, index=False)
    job = client.submit(
        handle_file(str(csv)),
        "sentence",
        "topic",
        BASE,
        "from-the-ui",
        2,
        5e-5,
        16,
        32,
        0.01,
        0.1,
        0.2,
        42,
        0,
        api_name="/finetune",
    )
    plot, table, status, archive, _ = job.result()
    assert "from-the-ui" in status
    assert table["headers"] == ["Epoch", "Training loss", "Validation loss", "Accuracy", "Macro F1", "Seconds"]
    assert [row[0] for row in table["data"]] == [1.0, 2.0]
    assert len(plot["value"]["data"]) == 2 * 8  # 120 training rows / 16 = 8 steps an epoch
    names = zipfile.ZipFile(archive).namelist()
    assert {"config.json", "model.safetensors", "tokenizer.json", RECORD_FILE} <= set(names)
    assert Path(registry.settings.finetune_dir / "from-the-ui" / "config.json").is_file()


def test_stop_button_in_the_page_ends_training_and_offers_the_best_epoch(open_app, app_url, registry, tmp_path):
    rows = topic_sentences(600, seed=6)
    csv = tmp_path / "topics.csv"
    pd.DataFrame({"text": rows.texts, "label": rows.labels}).to_csv(csv, index=False)
    page = open_app(app_url)
    page.get_by_role("tab", name="Fine-tuning").click()
    panel = page.locator("#tab-finetune")
    panel.locator("input[type=file]").first.set_input_files(str(csv))
    panel.get_by_text("600 rows · 3 labels: food (200), sport (200), weather (200)").wait_for(timeout=30_000)
    panel.get_by_label("Name of the new model (optional)").fill("stopped-in-the-page")
    panel.get_by_role("button", name="Train").click()
    panel.get_by_text("Training: step").wait_for(timeout=60_000)
    panel.get_by_role("button", name="Stop").click()
    panel.get_by_text("stopped by you").wait_for(timeout=60_000)
    record = json.loads((registry.settings.finetune_dir / "stopped-in-the-page" / RECORD_FILE).read_text())
    assert record["stopped_by"] == "user" and record["epochs"][-1]["epoch"] < 1


class _ScriptedTraining:
    """Stands in for the model: each epoch scores the next macro F1 of a script, so the stopping rule is exact."""

    steps_per_epoch = 1
    names = ["food", "sport", "weather"]
    script: list[float] = []

    def __init__(self, *args) -> None:
        self.scores = iter(self.script)
        self.saved = None

    def train_epoch(self, epoch, on_progress, stop):
        return [1.0]

    def epoch_result(self, epoch, losses, started):
        self.last_f1 = next(self.scores)
        return EpochResult(
            epoch=epoch,
            train_loss=1.0,
            validation_loss=1.0 - self.last_f1,
            accuracy=self.last_f1,
            macro_f1=self.last_f1,
            seconds=0.0,
        )

    def weights(self):
        return {"macro_f1": self.last_f1}  # stands for the weights of the epoch just scored

    def save(self, state, output_dir, record):
        _ScriptedTraining.saved = (state, record)


@pytest.mark.parametrize(
    "script, patience, epochs_run, best_epoch",
    [
        ([0.5, 0.7, 0.6, 0.65, 0.9], 2, 4, 2.0),  # two epochs without beating 0.7: stop before the fifth
        ([0.5, 0.7, 0.6, 0.65, 0.9], 0, 5, 5.0),  # patience 0 never stops early
        ([0.5, 0.6, 0.7, 0.8, 0.9], 1, 5, 5.0),  # always improving: runs to the end
    ],
)
def test_early_stopping_ends_after_patience_epochs_without_improvement(
    monkeypatch, tmp_path, script, patience, epochs_run, best_epoch
):
    import llm_demo.finetune.training as module

    monkeypatch.setattr(_ScriptedTraining, "script", script)
    monkeypatch.setattr(module, "_Training", _ScriptedTraining)
    settings = FinetuneSettings(epochs=len(script), patience=patience)
    result = finetune(entry("unused", "unused", "finetune"), topic_sentences(60, seed=1), tmp_path / "out", settings)
    assert len(result.epochs) == epochs_run
    assert result.best.epoch == best_epoch
    assert result.stopped_by == ("early_stopping" if epochs_run < len(script) else "finished")
    assert _ScriptedTraining.saved[0] == {"macro_f1": result.best.macro_f1}
