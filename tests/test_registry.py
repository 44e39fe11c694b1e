"""The models.yaml contract, and the rules for models a user types in."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_demo.errors import InputError, ModelError
from llm_demo.registry import REQUIRED_TASKS, Registry, read_models_file
from llm_demo.settings import ASSETS_DIR, get_settings


def test_shipped_models_file_offers_two_models_per_task_with_chinese_coverage():
    tasks = read_models_file(ASSETS_DIR / "models.yaml")
    for task in REQUIRED_TASKS:
        assert len(tasks[task]) >= 2, task
    translation_ids = [entry.model for entry in tasks["translation"]]
    assert "Helsinki-NLP/opus-mt-zh-en" in translation_ids and "Helsinki-NLP/opus-mt-en-zh" in translation_ids
    assert any("multilingual" in entry.name.lower() for entry in tasks["sentiment"])
    assert any(entry.option("zero_shot") for entry in tasks["classification"])


def test_models_env_variable_replaces_the_shipped_file(tiny, registry):
    assert registry.settings.models_file == tiny.models_file
    assert registry.default("sentiment").model == str(tiny.sentiment)
    assert registry.choices("qa") == ["Tiny BERT QA", "Tiny BERT QA (SQuAD2)"]
    assert registry.resolve("qa", "Tiny BERT QA (SQuAD2)").option("no_answer") is True


def test_empty_choice_means_the_default(registry):
    assert registry.resolve("generation", "  ") == registry.default("generation")


def test_models_file_missing_a_task_is_refused(tmp_path: Path):
    broken = tmp_path / "models.yaml"
    broken.write_text("translation: [a/b]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no models listed for"):
        read_models_file(broken)


def test_models_file_with_unknown_task_names_the_valid_ones(tmp_path: Path):
    broken = tmp_path / "models.yaml"
    broken.write_text("summarisation: [a/b]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="valid tasks"):
        read_models_file(broken)


def test_custom_models_off_refuses_typed_ids_and_suggests_close_names(tiny, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_ALLOW_CUSTOM_MODELS", "0")
    registry = Registry.load()
    with pytest.raises(InputError) as raised:
        registry.resolve("qa", "Tiny BERT Q")
    assert raised.value.key == "custom_models_off"
    assert "Did you mean Tiny BERT QA" in str(raised.value)
    assert registry.resolve("qa", "Tiny BERT QA").model == str(tiny.qa)


def test_local_paths_can_be_turned_off(tiny, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_ALLOW_LOCAL_PATHS", "0")
    with pytest.raises(InputError) as raised:
        Registry.load().resolve("qa", str(tiny.gpt2))
    assert raised.value.key == "local_paths_off"


def test_a_typed_local_folder_without_a_model_is_reported(registry, tmp_path: Path):
    with pytest.raises(ModelError) as raised:
        registry.resolve("qa", str(tmp_path))
    assert raised.value.key == "no_local_model"


def test_a_typed_hub_id_is_accepted_and_nonsense_is_not(registry):
    assert registry.resolve("qa", "deepset/roberta-base-squad2").model == "deepset/roberta-base-squad2"
    with pytest.raises(InputError) as raised:
        registry.resolve("qa", "not a model id!")
    assert raised.value.key == "bad_model_id"


def test_fine_tuned_models_appear_in_classification_and_sentiment(tiny, registry):
    folder = get_settings().finetune_dir / "my-classifier"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    try:
        assert "my-classifier (fine-tuned)" in registry.choices("classification")
        assert "my-classifier (fine-tuned)" in registry.choices("sentiment")
        assert "my-classifier (fine-tuned)" not in registry.choices("qa")
    finally:
        (folder / "config.json").unlink()
        folder.rmdir()


def test_views_over_several_tasks_list_each_model_once_in_file_order(registry):
    choices = registry.choices(("sentiment", "classification"))
    assert len(choices) == len(set(choices))
    listed = [name for name in choices if not name.endswith("(fine-tuned)")]  # other tests may have trained some
    assert listed == ["Tiny BERT sentiment", "Tiny BERT classifier", "Tiny BERT NLI"]
    assert registry.resolve(("fill_mask", "classification"), "Tiny BERT NLI").option("zero_shot") is True
    assert registry.resolve(("fill_mask", "classification"), "").name == "Tiny BERT MLM"


def test_a_model_listed_for_another_task_is_named_as_such(registry):
    with pytest.raises(InputError) as raised:
        registry.resolve("sentiment", "Tiny GPT-2")
    assert raised.value.key == "model_for_other_task"
    assert "listed for generation, not sentiment" in str(raised.value)
