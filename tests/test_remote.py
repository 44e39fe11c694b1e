"""The server seam without a server: models.yaml's endpoint keys, the concurrency/failure machinery, and how
an evaluation records rows a server could not answer. The real vLLM server is in test_remote_vllm.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from llm_demo.errors import ModelError
from llm_demo.evaluation.results import Predictor
from llm_demo.evaluation.run import evaluate
from llm_demo.models import with_weights_here
from llm_demo.models.served.client import Endpoint, map_concurrently
from llm_demo.models.served.model import ServedModel
from llm_demo.models.types import in_input_order
from llm_demo.registry import read_models_file
from llm_demo.ui.common import runs_on

UNREACHABLE = ModelError("endpoint_unreachable", "Cannot reach the model server at {endpoint}.", endpoint="x")


def models_file(tmp_path: Path, sentiment_entry: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(
        "\n".join(f"{task}: [{{model: m}}]" for task in ("translation", "generation", "classification", "qa"))
        + f"\nsentiment: [{sentiment_entry}]\n"
    )
    return path


@pytest.mark.parametrize(
    "entry, message",
    [
        ("{model: m, endpoint: vllm.internal:8000}", r"'endpoint' must be an http\(s\) URL"),
        ("{model: m, endpoint: 'http://h/v1', api_key_env: 'sk-abc123 secret'}", "names an environment variable"),
        ("{model: m, endpoint: 'http://h/v1', max_concurrency: 0}", "'max_concurrency' must be a whole number"),
        ("{model: m, endpoint: 'http://h/v1', labels: negative}", "'labels' must be a list"),
    ],
)
def test_a_broken_server_entry_fails_loudly_at_start_up(tmp_path, entry, message):
    with pytest.raises(ValueError, match=message):
        read_models_file(models_file(tmp_path, entry))


def test_server_entries_keep_their_keys_and_local_only_views_drop_them(tmp_path, tiny):
    from llm_demo.registry import Registry
    from llm_demo.settings import get_settings

    path = models_file(
        tmp_path,
        "{model: m}, {model: big, name: Big, endpoint: 'http://h:8000/v1', api_key_env: VLLM_KEY, max_concurrency: 4}",
    )
    registry = Registry(read_models_file(path), get_settings())
    entry = registry.resolve("sentiment", "Big")
    assert (entry.endpoint, Endpoint.of(entry)) == ("http://h:8000/v1", Endpoint("http://h:8000/v1", "VLLM_KEY", 4))
    assert Endpoint.of(entry).root == "http://h:8000"
    listed = [entry.name for entry in registry.tasks["sentiment"]]
    assert listed == ["m", "Big"] and [entry.name for entry in with_weights_here(registry).tasks["sentiment"]] == ["m"]


def test_the_key_is_read_from_the_named_variable_and_its_absence_explained(monkeypatch):
    endpoint = Endpoint("http://h/v1", "LLM_DEMO_TEST_KEY")
    monkeypatch.delenv("LLM_DEMO_TEST_KEY", raising=False)
    with pytest.raises(ModelError, match="needs a key in the environment variable LLM_DEMO_TEST_KEY"):
        endpoint.api_key()
    monkeypatch.setenv("LLM_DEMO_TEST_KEY", "k-1")
    assert endpoint.api_key() == "k-1" and Endpoint("http://h/v1").api_key() == "EMPTY"


def test_chunks_run_side_by_side_up_to_the_cap(tmp_path):
    running, most = [], []
    lock = threading.Lock()

    def work(chunk: list[int]) -> list[int]:
        with lock:
            running.append(1)
            most.append(len(running))
        time.sleep(0.05)
        with lock:
            running.pop()
        return [value * 10 for value in chunk]

    batches = list(map_concurrently(Endpoint("http://h/v1", max_concurrency=3), list(range(20)), work, 2))
    assert max(most) == 3
    assert sorted(index for indices, _ in batches for index in indices) == list(range(20))
    assert in_input_order(20, iter(batches)) == [value * 10 for value in range(20)]


def test_a_failed_chunk_comes_back_as_its_error_and_in_input_order_raises_it():
    def work(chunk: list[int]) -> list[int]:
        if 4 in chunk:
            raise ModelError("endpoint_failed", "The server failed.")
        return chunk

    batches = dict(
        (tuple(indices), results)
        for indices, results in map_concurrently(Endpoint("http://h/v1", max_concurrency=2), list(range(8)), work, 2)
    )
    assert [str(error) for error in batches[(4, 5)]] == ["The server failed.", "The server failed."]
    assert batches[(0, 1)] == [0, 1]
    with pytest.raises(ModelError, match="The server failed."):
        in_input_order(8, map_concurrently(Endpoint("http://h/v1", max_concurrency=2), list(range(8)), work, 2))


def test_a_dead_server_fails_the_remaining_rows_without_sending_them():
    sent = []

    def work(chunk: list[int]) -> list[int]:
        sent.append(chunk)
        raise UNREACHABLE

    batches = list(map_concurrently(Endpoint("http://h/v1", max_concurrency=2), list(range(100)), work, 1))
    assert sorted(index for indices, _ in batches for index in indices) == list(range(100))
    assert all(result is UNREACHABLE for _, results in batches for result in results)
    assert len(sent) <= 4  # two in flight, two queued, and then no more


def test_rows_a_server_failed_are_marked_failed_and_left_out_of_the_metrics(tmp_path):
    import csv

    data = tmp_path / "rows.csv"
    data.write_text("text,label\na,positive\nb,positive\nc,negative\n", encoding="utf-8")

    def run(texts: list[str]):
        yield [0, 1], [_classification("positive"), _classification("negative")]
        yield [2], [UNREACHABLE]

    result = evaluate(
        "sentiment",
        data,
        {"text": "text", "label": "label"},
        [Predictor("remote", run, labels=["negative", "positive"])],
        tmp_path / "out",
        bootstrap=0,
    )
    model = result.models[0]
    assert (model.rows_done, model.rows_failed, model.rows_not_finished) == (2, 1, 1)
    assert model.metrics.accuracy == 0.5 and model.status == "complete" and not result.finished
    assert model.error == "1 rows failed: Cannot reach the model server at x."
    with result.predictions_path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["prediction"], row["status"]) for row in rows] == [
        ("positive", "done"),
        ("negative", "done"),
        ("", "failed"),
    ]


def _classification(label: str):
    from llm_demo.models.types import Classification, LabelScore

    other = "negative" if label == "positive" else "positive"
    return Classification([LabelScore(label, 0.9), LabelScore(other, 0.1)])


def test_the_status_line_names_the_server_and_says_when_the_answer_is_generated():
    endpoint = Endpoint("http://gpu-box:8000/v1")
    served = ServedModel("qwen-72b", "sequence-classification", endpoint, 32768, 0.1)
    prompted = ServedModel("qwen-72b", "question-answering", endpoint, 32768, 0.1)
    assert runs_on(served, None) == "`qwen-72b` · Runs on the model server http://gpu-box:8000/v1"
    assert runs_on(prompted, None) == (
        "`qwen-72b` · Runs on the model server http://gpu-box:8000/v1 · the answer is "
        "generated by a language model from a prompt"
    )


def test_views_that_read_the_weights_offer_no_server_model_and_token_surprise_does(tmp_path, tiny):
    import gradio as gr
    import yaml

    from llm_demo.registry import Registry
    from llm_demo.settings import get_settings
    from llm_demo.ui import finetune_tab, inside_tab

    listing = yaml.safe_load(tiny.models_file.read_text(encoding="utf-8"))
    listing["generation"].append({"model": "big", "name": "Big LM (vLLM)", "endpoint": "http://h:8000/v1"})
    listing["classification"].append({"model": "cls", "name": "Classifier (vLLM)", "endpoint": "http://h:8012/v1"})
    listing["finetune"].append({"model": "enc", "name": "Encoder (vLLM)", "endpoint": "http://h:8013/v1"})
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(listing), encoding="utf-8")
    registry = Registry(read_models_file(path), get_settings())
    offered = []
    for tab in (inside_tab, finetune_tab):
        with gr.Blocks() as blocks:
            tab.build(registry)
        offered += [
            name
            for block in blocks.blocks.values()
            if isinstance(block, gr.Dropdown)
            for name, _ in block.choices
            if "(vLLM)" in name
        ]
    assert offered == ["Big LM (vLLM)"]  # the token-surprise picker, in the inside tab
