"""scripts/smoke_defaults.py: its table on local twins, and a clear failure per model where the Hub is out of reach."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from llm_demo.settings import ASSETS_DIR

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "smoke_defaults.py"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def smoke_script(monkeypatch_module):
    spec = importlib.util.spec_from_file_location("smoke_defaults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch_module.setitem(sys.modules, "smoke_defaults", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def first_twins_file(twins, tmp_path_factory) -> Path:
    """The first default model of every task, served by its twin, under its real name."""
    data = yaml.safe_load(twins.models_file.read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("smoke") / "models.yaml"
    path.write_text(
        yaml.safe_dump({task: entries[:1] for task, entries in data.items()}, allow_unicode=True), encoding="utf-8"
    )
    return path


def table_rows(printed: str) -> list[list[str]]:
    lines = [line for line in printed.splitlines() if line.startswith("| ")][2:]  # after header and rule
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_every_task_runs_its_tab_example_and_gets_a_row(smoke_script, first_twins_file, twins, capsys):
    assert smoke_script.main(["--models", str(first_twins_file), "--max-new-tokens", "8"]) == 0
    printed = capsys.readouterr().out
    rows = table_rows(printed)
    assert [row[1] for row in rows] == [
        "translation",
        "generation",
        "classification",
        "sentiment",
        "qa",
        "fill_mask",
        "finetune",
    ]
    assert rows[0][0] == str(twins.folder("translation", "Helsinki-NLP/opus-mt-zh-en"))
    assert rows[0][3].startswith("今天天气很好，我们去公园散步吧。 → ")
    assert rows[4][3].startswith("Where is the Eiffel Tower? → ")
    assert rows[6][3] == "encodes 9 tokens into 32 dimensions"
    assert all(float(row[2]) >= 0 and "FAILED" not in row[3] for row in rows)
    assert printed.rstrip().endswith("7 of 7 models ran; 0 failed.")


def test_offline_every_default_model_fails_clearly_and_the_run_goes_on(smoke_script, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (
        smoke_script.main(["--models", str(ASSETS_DIR / "models.yaml"), "--task", "translation", "--task", "qa"]) == 1
    )
    printed = capsys.readouterr().out
    rows = table_rows(printed)
    assert [row[0] for row in rows] == [
        "Helsinki-NLP/opus-mt-zh-en",
        "Helsinki-NLP/opus-mt-en-zh",
        "Helsinki-NLP/opus-mt-en-de",
        "facebook/nllb-200-distilled-600M",
        "deepset/xlm-roberta-base-squad2",
        "distilbert/distilbert-base-cased-distilled-squad",
        "deepset/roberta-base-squad2",
    ]
    assert all(row[3].startswith("FAILED: Cannot download '") for row in rows)
    assert "the Hugging Face Hub is unreachable" in rows[0][3]
    assert printed.rstrip().endswith("0 of 7 models ran; 7 failed.")


def test_outputs_stay_on_one_line_of_the_table(smoke_script):
    result = smoke_script.SmokeResult("org/model", "qa", 1.25, "first line\nsecond | with a bar " + "x" * 100, True)
    row = smoke_script.table([result]).splitlines()[2]
    assert row.startswith("| org/model | qa | 1.2 | first line second \\| with a bar xxx")
    assert row.endswith("… |") and len(row) < 120
