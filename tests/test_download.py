"""Downloads you can see: byte counts from a real Hub download (a local server standing in for the Hub), which
files are fetched, and the tabs' progress text. The `download` command and preloading are in test_warm_start.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fake_hub import serving
from helpers import screenshot
from served_app import app_process, free_port, wait_for

from llm_demo.models.hub import DOWNLOADING, LOADING, LoadProgress, files_to_fetch

ROOT = Path(__file__).resolve().parent.parent
FETCHED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")  # what the BERT folder holds

WATCH_A_LOAD = r"""
import json, sys
import llm_demo.models.hub as hub
from llm_demo.models import get_model
from llm_demo.registry import ModelEntry
from llm_demo.tasks.classification import classify

hub.REPORT_SECONDS = 0  # every chunk reported, so each file's bytes show up
seen = []
with hub.reporting_loads(seen.append):
    loaded = get_model(ModelEntry(model="acme/tiny-sentiment", name="x", task="sentiment"),
                               "sequence-classification")
print(json.dumps({"reports": [[p.stage, p.done, p.total, p.device] for p in seen],
                  "label": classify(loaded, ["good film"])[0].label}))
"""


def hub_environment(url: str, home: Path) -> dict[str, str]:
    """A fresh process talks to the server at `url` as if it were the Hub, with an empty cache."""
    return {
        **os.environ,
        "HF_ENDPOINT": url,
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "PYTHONPATH": str(ROOT),
    }


def test_progress_callback_receives_the_bytes_of_each_file_then_the_load(tiny, tmp_path, load):
    sizes = {name: (tiny.sentiment / name).stat().st_size for name in FETCHED}
    assert sorted(p.name for p in tiny.sentiment.iterdir()) == sorted(FETCHED)
    with serving({"acme/tiny-sentiment": tiny.sentiment}) as (url, requests):
        process = subprocess.run(
            [sys.executable, "-c", WATCH_A_LOAD],
            env=hub_environment(url, tmp_path / "hf"),
            capture_output=True,
            text=True,
            timeout=240,
            cwd=ROOT,
        )
    assert process.returncode == 0, process.stderr[-2000:]
    seen = json.loads(process.stdout.strip().splitlines()[-1])
    downloading = [(done, total) for stage, done, total, _ in seen["reports"] if stage == DOWNLOADING]
    total = sum(sizes.values())
    assert {t for _, t in downloading} == {total}
    # The running count passes through the end of every file (files are fetched one after another, in order).
    ends = [sum(sizes[name] for name in FETCHED[: i + 1]) for i in range(len(FETCHED))]
    assert set(ends) <= {done for done, _ in downloading} and downloading[-1] == (total, total)
    assert [done for done, _ in downloading] == sorted(done for done, _ in downloading)
    assert seen["reports"][-1] == [LOADING, 0, 0, "cpu"]
    assert sum(r.startswith("GET /acme/tiny-sentiment/resolve/") for r in requests) == len(FETCHED)
    local = load("sentiment", "Tiny BERT sentiment", "sequence-classification")
    from llm_demo.tasks.classification import classify

    assert seen["label"] == classify(local, ["good film"])[0].label  # the downloaded model is the same model


def test_only_the_files_from_pretrained_reads_are_fetched():
    repository = [
        "config.json",
        "model.safetensors",
        "pytorch_model.bin",
        "tf_model.h5",
        "flax_model.msgpack",
        "model.onnx",
        "rust_model.ot",
        "tokenizer.json",
        "sentencepiece.bpe.model",
        "README.md",
    ]
    assert files_to_fetch(repository) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "sentencepiece.bpe.model",
        "README.md",
    ]
    assert files_to_fetch(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]


class RecordingProgress:
    """Stands in for gr.Progress: keeps what the tab's progress bar would show."""

    def __init__(self) -> None:
        self.shown: list[tuple[float | None, str]] = []

    def __call__(self, fraction, desc=None, **_) -> None:
        self.shown.append((fraction, desc))


class ChineseRequest:
    headers = {"accept-language": "zh-CN,zh;q=0.9"}


@pytest.mark.parametrize(
    "request_, downloading, loading",
    [
        (None, "Downloading org/m: 120 of 480 MB, 12.0 MB/s", "Loading org/m onto cuda:0…"),
        (ChineseRequest(), "正在下载 org/m：120 / 480 MB，12.0 MB/秒", "正在把 org/m 加载到 cuda:0…"),
    ],
)
def test_tab_progress_shows_megabytes_and_speed_then_loading(request_, downloading, loading):
    from llm_demo.models.hub import _load_listener
    from llm_demo.ui.common import showing_loads

    progress = RecordingProgress()
    with showing_loads(request_, progress):
        listener = _load_listener.get()
        listener(LoadProgress("org/m", DOWNLOADING, 120_000_000, 480_000_000, 10.0))
        listener(LoadProgress("org/m", LOADING, device="cuda:0"))
    assert progress.shown == [(0.25, downloading), (1.0, loading)]
    assert _load_listener.get() is None  # the listener ends with the block


def test_a_tab_shows_the_download_in_megabytes_then_the_result(tiny, tmp_path, open_app):
    models = tmp_path / "models.yaml"
    models.write_text(
        tiny.models_file.read_text().replace(
            f'"{tiny.sentiment}", name: Tiny BERT sentiment}}', '"acme/tiny-sentiment", name: Tiny BERT sentiment}'
        )
    )
    port = free_port()
    start = (
        "from llm_demo.ui import build_app, launch_options; "
        f"build_app().launch(server_name='127.0.0.1', server_port={port}, **launch_options())"
    )
    with serving({"acme/tiny-sentiment": tiny.sentiment}, bytes_per_second=1_000_000) as (hub, _):
        env = {
            **hub_environment(hub, tmp_path / "hf"),
            "LLM_DEMO_MODELS": str(models),
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        with app_process([sys.executable, "-c", start], env):
            page = open_app(wait_for(f"http://127.0.0.1:{port}/"))
            page.get_by_role("tab", name="Sentiment").click()
            panel = page.locator("#tab-sentiment")
            panel.get_by_label("Text — one per line for several").fill("what a lovely day")
            panel.get_by_role("button", name="Analyse").click()
            shown = page.get_by_text(re.compile(r"Downloading acme/tiny-sentiment: [1-4] of 5 MB, [\d.]+ MB/s"))
            shown.first.wait_for(timeout=60_000)
            screenshot(page, "downloading-en.png", full_page=False)
            page.get_by_text("Loading acme/tiny-sentiment onto cpu…").first.wait_for(timeout=30_000)
            panel.get_by_role("gridcell", name="what a lovely day").wait_for(timeout=60_000)
            assert "acme/tiny-sentiment" in panel.locator(".model-status").first.inner_text()
