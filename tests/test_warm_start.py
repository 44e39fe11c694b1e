"""The warm start: the `download` command filling the Hugging Face cache (from a local server standing in for
the Hub), and preloading each tab's default model at start-up while the page already answers."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import urllib.request

from fake_hub import serving
from served_app import served_app
from test_download import ROOT, hub_environment

from llm_demo.__main__ import main


def test_download_command_fetches_from_the_hub_and_refuses_an_unknown_id(tiny, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(
        tiny.models_file.read_text().replace(
            f'"{tiny.qa}", name: Tiny BERT QA}}', '"acme/tiny-qa", name: Tiny BERT QA}'
        )
    )
    command = [sys.executable, "-m", "llm_demo", "download"]
    with serving({"acme/tiny-qa": tiny.qa}) as (url, _):
        env = {**hub_environment(url, tmp_path / "hf"), "LLM_DEMO_MODELS": str(models)}
        fetched = subprocess.run([*command, "--task", "qa"], env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run(
            [*command, "--model", "acme/tiny-qa"], env=env, capture_output=True, text=True, timeout=120
        )
        unknown = subprocess.run(
            [*command, "--model", "nobody/no-such-model"], env=env, capture_output=True, text=True, timeout=120
        )
        offline = subprocess.run(
            [*command, "--model", "acme/tiny-qa"],
            env={**env, "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    size = sum(path.stat().st_size for path in tiny.qa.iterdir()) / 1e6
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.splitlines() == [
        f"acme/tiny-qa: downloaded {size:,.1f} MB",
        f"{tiny.qa}: already present (local folder)",
    ]
    assert "acme/tiny-qa" in fetched.stderr  # the terminal bar names the model
    assert (again.returncode, again.stdout) == (0, "acme/tiny-qa: already in the Hugging Face cache\n")
    assert (offline.returncode, offline.stdout) == (0, again.stdout)  # an air-gapped machine with a filled cache
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == ("error: Model 'nobody/no-such-model' was not found on the Hugging Face Hub or on disk.\n")


def test_download_command_reports_local_folders_as_already_present(tiny, capsys):
    assert main(["download", "--all"]) == 0
    folders = [tiny.bart, tiny.gpt2_chat, tiny.gpt2, tiny.sentiment, tiny.nli, tiny.qa, tiny.mlm]
    from tiny_models import MINILM_DIR

    assert capsys.readouterr().out.splitlines() == [
        f"{folder}: already present (local folder)" for folder in [*folders, MINILM_DIR]
    ]


def test_download_command_leaves_out_models_that_run_on_a_server(tiny, tmp_path, monkeypatch, capsys):
    served = tmp_path / "models.yaml"
    served.write_text(
        tiny.models_file.read_text(encoding="utf-8").replace(
            "generation:\n",
            'generation:\n  - {model: big-chat, name: Big chat on vLLM, endpoint: "http://127.0.0.1:9/v1"}\n',
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("LLM_DEMO_MODELS", str(served))
    assert main(["download", "--all"]) == 0
    printed = capsys.readouterr().out
    assert "big-chat" not in printed and f"{tiny.gpt2_chat}: already present (local folder)" in printed


def test_download_command_without_options_fetches_each_tasks_default(tiny, capsys):
    assert main(["download"]) == 0
    from tiny_models import MINILM_DIR

    defaults = [tiny.bart, tiny.gpt2_chat, tiny.sentiment, tiny.qa, tiny.mlm, MINILM_DIR]
    assert capsys.readouterr().out.splitlines() == [f"{folder}: already present (local folder)" for folder in defaults]


def test_download_command_unknown_task_is_one_line_and_exit_2(tiny, capsys):
    assert main(["download", "--task", "summarization"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: Unknown task 'summarization'. Choose one of: translation, generation")
    assert len(error.strip().splitlines()) == 1


def test_preload_loads_each_tabs_default_while_the_page_already_answers(tiny, monkeypatch):
    import llm_demo.models
    from llm_demo.registry import Registry

    release, loaded = threading.Event(), []

    def slow_get_model(entry, kind, **options):
        release.wait(60)
        loaded.append((entry.name, kind))

    monkeypatch.setattr(llm_demo.models, "get_model", slow_get_model)
    monkeypatch.setenv("LLM_DEMO_PRELOAD", "1")
    try:
        with served_app(Registry.load()) as url, urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and loaded == []  # answered while the first model still "loads"
    finally:
        release.set()
    for thread in [t for t in threading.enumerate() if t.name == "llm_demo-preload"]:
        thread.join(30)
    assert loaded == [
        ("Tiny BART", "seq2seq"),
        ("Tiny chat GPT-2", "causal-lm"),
        ("Tiny BERT classifier", "sequence-classification"),
        ("Tiny BERT sentiment", "sequence-classification"),
    ]  # 4: $LLM_DEMO_CACHE_SIZE


def test_spaces_header_preloads_the_default_model_of_each_task():
    import yaml

    from llm_demo.registry import Registry
    from llm_demo.settings import ASSETS_DIR, get_settings
    from llm_demo.warm_start import default_entries

    header = yaml.safe_load((ROOT / "README.md").read_text(encoding="utf-8").split("---")[1])
    shipped = Registry.load(dataclasses.replace(get_settings(), models_file=ASSETS_DIR / "models.yaml"))
    assert header["preload_from_hub"] == [entry.model for entry in default_entries(shipped)]
