"""Downloads you can see and the warm start: byte counts from a real Hub download (a local server standing in
for the Hub), the `download` command, the tabs' progress text, and preloading the defaults at start-up."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from served_app import served_app

from fake_hub import serving
from helpers import screenshot
from llm_demo.__main__ import main
from llm_demo.loading import DOWNLOADING, LOADING, LoadProgress, files_to_fetch

ROOT = Path(__file__).resolve().parent.parent
FETCHED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")  # what the BERT folder holds

WATCH_A_LOAD = r"""
import json, sys
import llm_demo.loading as loading
from llm_demo.registry import ModelEntry
from llm_demo.tasks.classification import classify

loading.REPORT_SECONDS = 0  # every chunk reported, so each file's bytes show up
seen = []
with loading.reporting_loads(seen.append):
    loaded = loading.get_model(ModelEntry(model="acme/tiny-sentiment", name="x", task="sentiment"),
                               "sequence-classification")
print(json.dumps({"reports": [[p.stage, p.done, p.total, p.device] for p in seen],
                  "label": classify(loaded, ["good film"])[0].label}))
"""


def hub_environment(url: str, home: Path) -> dict[str, str]:
    """A fresh process talks to the server at `url` as if it were the Hub, with an empty cache."""
    return {**os.environ, "HF_ENDPOINT": url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(home),
            "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONPATH": str(ROOT)}


def test_progress_callback_receives_the_bytes_of_each_file_then_the_load(tiny, tmp_path, load):
    sizes = {name: (tiny.sentiment / name).stat().st_size for name in FETCHED}
    assert sorted(p.name for p in tiny.sentiment.iterdir()) == sorted(FETCHED)
    with serving({"acme/tiny-sentiment": tiny.sentiment}) as (url, requests):
        process = subprocess.run([sys.executable, "-c", WATCH_A_LOAD], env=hub_environment(url, tmp_path / "hf"),
                                 capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert process.returncode == 0, process.stderr[-2000:]
    seen = json.loads(process.stdout.strip().splitlines()[-1])
    downloading = [(done, total) for stage, done, total, _ in seen["reports"] if stage == DOWNLOADING]
    total = sum(sizes.values())
    assert {t for _, t in downloading} == {total}
    # The running count passes through the end of every file (files are fetched one after another, in order).
    ends = [sum(sizes[name] for name in FETCHED[:i + 1]) for i in range(len(FETCHED))]
    assert set(ends) <= {done for done, _ in downloading} and downloading[-1] == (total, total)
    assert [done for done, _ in downloading] == sorted(done for done, _ in downloading)
    assert seen["reports"][-1] == [LOADING, 0, 0, "cpu"]
    assert sum(r.startswith("GET /acme/tiny-sentiment/resolve/") for r in requests) == len(FETCHED)
    local = load("sentiment", "Tiny BERT sentiment", "sequence-classification")
    from llm_demo.tasks.classification import classify
    assert seen["label"] == classify(local, ["good film"])[0].label  # the downloaded model is the same model


def test_only_the_files_from_pretrained_reads_are_fetched():
    repository = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
                  "model.onnx", "rust_model.ot", "tokenizer.json", "sentencepiece.bpe.model", "README.md"]
    assert files_to_fetch(repository) == ["config.json", "model.safetensors", "tokenizer.json",
                                          "sentencepiece.bpe.model", "README.md"]
    assert files_to_fetch(["config.json", "pytorch_model.bin"]) == ["config.json", "pytorch_model.bin"]


def test_download_command_fetches_from_the_hub_and_refuses_an_unknown_id(tiny, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(tiny.models_file.read_text().replace(f'"{tiny.qa}", name: Tiny BERT QA}}',
                                                           '"acme/tiny-qa", name: Tiny BERT QA}'))
    command = [sys.executable, "-m", "llm_demo", "download"]
    with serving({"acme/tiny-qa": tiny.qa}) as (url, _):
        env = {**hub_environment(url, tmp_path / "hf"), "LLM_DEMO_MODELS": str(models)}
        fetched = subprocess.run([*command, "--task", "qa"], env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run([*command, "--model", "acme/tiny-qa"], env=env, capture_output=True, text=True,
                               timeout=120)
        unknown = subprocess.run([*command, "--model", "nobody/no-such-model"], env=env, capture_output=True,
                                 text=True, timeout=120)
        offline = subprocess.run([*command, "--model", "acme/tiny-qa"], env={**env, "HF_HUB_OFFLINE": "1"},
                                 capture_output=True, text=True, timeout=120)
    size = sum(path.stat().st_size for path in tiny.qa.iterdir()) / 1e6
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.splitlines() == [f"acme/tiny-qa: downloaded {size:,.1f} MB",
                                           f"{tiny.qa}: already present (local folder)"]
    assert "acme/tiny-qa" in fetched.stderr  # the terminal bar names the model
    assert (again.returncode, again.stdout) == (0, "acme/tiny-qa: already in the Hugging Face cache\n")
    assert (offline.returncode, offline.stdout) == (0, again.stdout)  # an air-gapped machine with a filled cache
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == ("error: Model 'nobody/no-such-model' was not found on the Hugging Face Hub or on "
                              "disk.\n")


def test_download_command_reports_local_folders_as_already_present(tiny, capsys):
    assert main(["download", "--all"]) == 0
    folders = [tiny.bart, tiny.gpt2_chat, tiny.gpt2, tiny.sentiment, tiny.nli, tiny.qa, tiny.mlm]
    from tiny_models import MINILM_DIR
    assert capsys.readouterr().out.splitlines() == [f"{folder}: already present (local folder)"
                                                    for folder in [*folders, MINILM_DIR]]


def test_download_command_leaves_out_models_that_run_on_a_server(tiny, tmp_path, monkeypatch, capsys):
    served = tmp_path / "models.yaml"
    served.write_text(tiny.models_file.read_text(encoding="utf-8").replace(
        "generation:\n", 'generation:\n  - {model: big-chat, name: Big chat on vLLM, endpoint: "http://127.0.0.1:9/v1"}\n'),
        encoding="utf-8")
    monkeypatch.setenv("LLM_DEMO_MODELS", str(served))
    assert main(["download", "--all"]) == 0
    printed = capsys.readouterr().out
    assert "big-chat" not in printed and f"{tiny.gpt2_chat}: already present (local folder)" in printed


def test_download_command_without_options_fetches_each_tasks_default(tiny, capsys):
    assert main(["download"]) == 0
    from tiny_models import MINILM_DIR
    defaults = [tiny.bart, tiny.gpt2_chat, tiny.sentiment, tiny.qa, tiny.mlm, MINILM_DIR]
    assert capsys.readouterr().out.splitlines() == [f"{folder}: already present (local folder)"
                                                    for folder in defaults]


def test_download_command_unknown_task_is_one_line_and_exit_2(tiny, capsys):
    assert main(["download", "--task", "summarization"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: Unknown task 'summarization'. Choose one of: translation, generation")
    assert len(error.strip().splitlines()) == 1


class RecordingProgress:
    """Stands in for gr.Progress: keeps what the tab's progress bar would show."""

    def __init__(self) -> None:
        self.shown: list[tuple[float | None, str]] = []

    def __call__(self, fraction, desc=None, **_) -> None:
        self.shown.append((fraction, desc))


class ChineseRequest:
    headers = {"accept-language": "zh-CN,zh;q=0.9"}


@pytest.mark.parametrize("request_, downloading, loading", [
    (None, "Downloading org/m: 120 of 480 MB, 12.0 MB/s", "Loading org/m onto cuda:0…"),
    (ChineseRequest(), "正在下载 org/m：120 / 480 MB，12.0 MB/秒", "正在把 org/m 加载到 cuda:0…"),
])
def test_tab_progress_shows_megabytes_and_speed_then_loading(request_, downloading, loading):
    from llm_demo.loading import _load_listener
    from llm_demo.ui.common import showing_loads

    progress = RecordingProgress()
    with showing_loads(request_, progress):
        listener = _load_listener.get()
        listener(LoadProgress("org/m", DOWNLOADING, 120_000_000, 480_000_000, 10.0))
        listener(LoadProgress("org/m", LOADING, device="cuda:0"))
    assert progress.shown == [(0.25, downloading), (1.0, loading)]
    assert _load_listener.get() is None  # the listener ends with the block


def test_preload_loads_each_tabs_default_while_the_page_already_answers(tiny, monkeypatch):
    import llm_demo.loading
    from llm_demo.registry import Registry

    release, loaded = threading.Event(), []

    def slow_get_model(entry, kind, **options):
        release.wait(60)
        loaded.append((entry.name, kind))

    monkeypatch.setattr(llm_demo.loading, "get_model", slow_get_model)
    monkeypatch.setenv("LLM_DEMO_PRELOAD", "1")
    try:
        with served_app(Registry.load()) as url, urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and loaded == []  # answered while the first model still "loads"
    finally:
        release.set()
    for thread in [t for t in threading.enumerate() if t.name == "llm_demo-preload"]:
        thread.join(30)
    assert loaded == [("Tiny BART", "seq2seq"), ("Tiny chat GPT-2", "causal-lm"),
                      ("Tiny BERT classifier", "sequence-classification"),
                      ("Tiny BERT sentiment", "sequence-classification")]  # 4: $LLM_DEMO_CACHE_SIZE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_tab_shows_the_download_in_megabytes_then_the_result(tiny, tmp_path, open_app):
    models = tmp_path / "models.yaml"
    models.write_text(tiny.models_file.read_text().replace(f'"{tiny.sentiment}", name: Tiny BERT sentiment}}',
                                                           '"acme/tiny-sentiment", name: Tiny BERT sentiment}'))
    port = free_port()
    start = ("from llm_demo.ui import build_app, launch_options; "
             f"build_app().launch(server_name='127.0.0.1', server_port={port}, **launch_options())")
    with serving({"acme/tiny-sentiment": tiny.sentiment}, bytes_per_second=1_000_000) as (hub, _):
        env = {**hub_environment(hub, tmp_path / "hf"), "LLM_DEMO_MODELS": str(models),
               "GRADIO_ANALYTICS_ENABLED": "False"}
        app = subprocess.Popen([sys.executable, "-c", start], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
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
        finally:
            app.terminate()
            app.wait(30)


def wait_for(url: str, seconds: float = 120) -> str:
    """The URL once the app behind it answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_spaces_header_preloads_the_default_model_of_each_task():
    import yaml

    from llm_demo.download import default_entries
    from llm_demo.registry import Registry
    from llm_demo.settings import ASSETS_DIR, get_settings

    header = yaml.safe_load((ROOT / "README.md").read_text(encoding="utf-8").split("---")[1])
    shipped = Registry.load(dataclasses.replace(get_settings(), models_file=ASSETS_DIR / "models.yaml"))
    assert header["preload_from_hub"] == [entry.model for entry in default_entries(shipped)]
