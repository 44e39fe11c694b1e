"""Models behind a real vLLM server (started here through scripts/vllm_server.sh, which installs vLLM's CPU
build into its own venv when missing), used through the app's API and the CLI, and compared with the
same weights loaded in this process in fp32. Deselect with `-m "not vllm"`."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import pytest
import torch
import yaml
from gradio_client.exceptions import AppError
from helpers import entry, read_predictions
from served_app import free_port, served_app
from tiny_models import CORPUS, SENTIMENT_LABELS
from vllm_models import CHAT_WINDOW, KEY, KEY_ENV, Server, Servers

from llm_demo.__main__ import main
from llm_demo.evaluation import cli
from llm_demo.models import get_model
from llm_demo.registry import Registry, read_models_file
from llm_demo.settings import get_settings
from llm_demo.tasks.classification import classify
from llm_demo.tasks.generation import GenerationSettings, generate, stream_chat

pytestmark = pytest.mark.vllm
CHAT, CLASSIFIER = "Tiny Qwen2 (vLLM)", "Tiny BERT sentiment (vLLM)"
GREEDY = GenerationSettings(max_new_tokens=24, temperature=0, top_p=1, repetition_penalty=1.3)


@pytest.fixture(scope="module")
def servers(vllm_servers: Servers) -> Servers:
    """The session's servers (conftest.py), with the classifier's key in the environment for this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, KEY)
        yield vllm_servers


@pytest.fixture(scope="module")
def remote_registry(servers, tiny, tmp_path_factory) -> Registry:
    """The tiny local models plus models on the two servers, as a deployment's models.yaml would list them."""
    listing = yaml.safe_load(tiny.models_file.read_text(encoding="utf-8"))
    chat, classifier = servers.chat.base_url, servers.classifier.base_url
    listing["generation"].append({"model": "tiny-chat", "name": CHAT, "endpoint": chat})
    listing["sentiment"].append(
        {"model": "tiny-sentiment", "name": CLASSIFIER, "endpoint": classifier, "api_key_env": KEY_ENV}
    )
    listing["classification"] += [
        {
            "model": "tiny-sentiment",
            "name": "Tiny BERT classifier (vLLM)",
            "endpoint": classifier,
            "api_key_env": KEY_ENV,
            "labels": list(SENTIMENT_LABELS.values()),
        },
        {"model": "tiny-chat", "name": "Tiny Qwen2 zero-shot (vLLM)", "endpoint": chat, "zero_shot": True},
    ]
    listing["translation"].append(
        {"model": "tiny-chat", "name": "Tiny Qwen2 translator (vLLM)", "endpoint": chat, "target_lang": "English"}
    )
    listing["qa"].append({"model": "tiny-chat", "name": "Tiny Qwen2 QA (vLLM)", "endpoint": chat})
    listing["sentiment"].append(
        {"model": "tiny-sentiment", "name": "Nobody listening", "endpoint": f"http://127.0.0.1:{free_port()}/v1"}
    )
    listing["sentiment"].append(
        {"model": "tiny-sentimnt", "name": "Misspelt served name", "endpoint": classifier, "api_key_env": KEY_ENV}
    )
    path = tmp_path_factory.mktemp("remote-models") / "models.yaml"
    path.write_text(yaml.safe_dump(listing, allow_unicode=True), encoding="utf-8")
    return Registry(read_models_file(path), get_settings())


@pytest.fixture(scope="module")
def remote_client(remote_registry):
    from gradio_client import Client

    with served_app(remote_registry) as url:
        yield Client(url, verbose=False)


def local(folder: Path, kind: str):
    """The weights a server runs, loaded in this process in fp32 as the servers run them, whatever the CPU."""
    return get_model(entry(folder, task="generation"), kind, dtype=torch.float32)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([header, *rows])
    return path


# --- through the app's API ----------------------------------------------------------------------


def test_generation_streams_from_the_server_the_greedy_reply_of_the_same_weights(remote_client, servers):
    job = remote_client.submit(
        "Write a haiku about the sea.",
        CHAT,
        "",
        GREEDY.max_new_tokens,
        0,
        1,
        GREEDY.repetition_penalty,
        None,
        api_name="/generate",
    )
    text, status = job.result()
    expected = generate(local(servers.chat_folder, "causal-lm"), ["Write a haiku about the sea."], GREEDY)[0]
    assert text == expected and len(set(expected)) > 3
    assert len([update for update in job.outputs() if update[0]]) > 3  # it arrived in pieces
    assert status == f"`tiny-chat` · Runs on the model server {servers.chat.base_url}"


def server_metric(server: Server, name: str, reason: str = "") -> float:
    """One of vLLM's own counters or gauges from its /metrics, summed over its labels."""
    import httpx

    lines = httpx.get(server.base_url.removesuffix("/v1") + "/metrics", timeout=10).text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(name + "{") and (not reason or f'finished_reason="{reason}"' in line)
    )


def finished_requests(server: Server) -> list[float]:
    """How many requests the server has ended by itself, by a stop token or by running out of tokens."""
    return [server_metric(server, "vllm:request_success_total", reason) for reason in ("stop", "length")]


def stream_seen_running(job, server: Server) -> bool:
    """Wait until the client has a first piece and the server counts the request as running; False if the
    request ended first (the tiny model writes ~150 tokens/s, so on a busy machine it can)."""
    deadline = time.monotonic() + 120
    while not job.done() and time.monotonic() < deadline:
        if job.outputs() and server_metric(server, "vllm:num_requests_running") == 1:
            return True
        time.sleep(0.05)
    return False


def test_stop_ends_the_stream_and_the_server_drops_the_request(remote_client, servers):
    for _ in range(3):
        finished = finished_requests(servers.chat)
        job = remote_client.submit("Tell a long story.", CHAT, "", 1024, 0.7, 0.95, 1.0, 1, api_name="/generate")
        if stream_seen_running(job, servers.chat):
            break
    else:
        pytest.fail("three replies of 1,024 tokens each ended before Stop could be pressed")
    job.cancel()
    deadline = time.monotonic() + 30
    while server_metric(servers.chat, "vllm:num_requests_running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_metric(servers.chat, "vllm:num_requests_running") == 0
    # it neither ran on to its 1,024 tokens nor stopped by itself: the server aborted it when the stream closed
    assert finished_requests(servers.chat) == finished


def test_a_conversation_streams_through_chat_completions(servers, remote_registry):
    remote = get_model(remote_registry.resolve("generation", CHAT), "causal-lm")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name a colour."},
    ]
    replies = list(stream_chat(remote, messages, GREEDY))
    assert replies[-1] == list(stream_chat(local(servers.chat_folder, "causal-lm"), messages, GREEDY))[-1]


def test_the_chat_tab_counts_a_conversation_with_the_servers_tokenizer(servers, remote_registry):
    from llm_demo.tasks.chat import prepare, reply_tokens

    remote = get_model(remote_registry.resolve("generation", CHAT), "causal-lm")
    here = local(servers.chat_folder, "causal-lm")
    turns = [
        {"role": "user" if turn % 2 == 0 else "assistant", "content": f"Turn {turn}: " + CORPUS[turn] * 4}
        for turn in range(9)
    ]
    reply = CHAT_WINDOW - 200  # leaves too little room for all nine turns
    assert prepare(remote, turns, reply) == prepare(here, turns, reply) and prepare(here, turns, reply).dropped_turns
    assert reply_tokens(remote, "Paris is the capital of France.") == reply_tokens(
        here, "Paris is the capital of France."
    )


def test_sentiment_through_classify_matches_the_same_weights_run_here(remote_client, servers):
    texts = ["I loved this film, it was great!", "The service was terrible and slow.", "今天天气很好。"]
    table, status = remote_client.predict("\n".join(texts), CLASSIFIER, api_name="/sentiment")
    expected = classify(local(servers.classifier_folder, "sequence-classification"), texts)
    assert [row[1] for row in table["data"]] == [result.label for result in expected]
    assert [row[2] for row in table["data"]] == pytest.approx([round(r.score, 4) for r in expected], abs=2e-4)
    assert servers.classifier.base_url in status


def test_classification_names_every_class_from_the_labels_in_models_yaml(remote_client, servers):
    result, _ = remote_client.predict(
        "The striker scored twice.", "Tiny BERT classifier (vLLM)", "", False, api_name="/classify"
    )
    expected = classify(local(servers.classifier_folder, "sequence-classification"), ["The striker scored twice."])[0]
    assert {c["label"]: c["confidence"] for c in result["confidences"]} == pytest.approx(
        {score.label: score.score for score in expected.scores}, abs=1e-4
    )


def test_zero_shot_translation_and_qa_are_answers_an_instruct_model_generates(remote_client, servers):
    result, status = remote_client.predict(
        "The match ended 2-1.", "Tiny Qwen2 zero-shot (vLLM)", "sport, politics", False, api_name="/classify"
    )
    scores = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(scores) == {"sport", "politics"} and sorted(scores.values())[0] == 0.0
    assert 0 < max(scores.values()) <= 1
    assert "the answer is generated by a language model" in status
    translation, status = remote_client.predict(
        "今天天气很好。", "Tiny Qwen2 translator (vLLM)", 1, 16, "", "English", api_name="/translate"
    )
    assert translation.strip() and "generated" in status
    best, marked, _, status = remote_client.predict(
        "Where is it?", "The tower is in Paris.", "Tiny Qwen2 QA (vLLM)", 1, 8, True, api_name="/answer"
    )
    assert "".join(piece["token"] for piece in marked) == "The tower is in Paris." and "generated" in status


def test_server_errors_are_one_clear_message_in_the_readers_language(remote_client, servers):
    with pytest.raises(AppError, match=r"Cannot reach the model server at http://127\.0\.0\.1:\d+/v1"):
        remote_client.predict("good", "Nobody listening", api_name="/sentiment")
    with pytest.raises(AppError, match=r"does not serve 'tiny-sentimnt'\. It serves: tiny-sentiment\."):
        remote_client.predict("good", "Misspelt served name", api_name="/sentiment")
    from gradio_client import Client

    chinese = Client(remote_client.src, verbose=False, headers={"Accept-Language": "zh-CN"})
    with pytest.raises(AppError, match="无法连接模型服务器"):
        chinese.predict("good", "Nobody listening", api_name="/sentiment")


# --- through the command line -------------------------------------------------------------------


def logprobs_here(folder: Path, text: str) -> list[float]:
    """log p(token | tokens before it) of the same weights in this process, on the tokens the server reads:
    it adds no BOS (this tokenizer adds none), so the first token is not scored."""
    loaded = local(folder, "causal-lm")
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
    with torch.inference_mode():
        return loaded.model(ids).logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None]).squeeze(-1).tolist()


def test_token_surprise_lays_the_servers_log_probs_over_the_text(remote_client, servers):
    text = "Paris is the capital of France."
    shaded, perplexity, table, status = remote_client.predict(text, CHAT, api_name="/surprise")
    expected = logprobs_here(servers.chat_folder, text)
    assert "".join(piece["token"] for piece in shaded) == text
    assert [row[1] for row in table["data"]] == pytest.approx([round(value, 4) for value in expected], abs=2e-4)
    assert perplexity == pytest.approx(math.exp(-sum(expected) / len(expected)), rel=1e-5)


def test_perplexity_from_echoed_log_probs_matches_the_weights_run_here(servers, tmp_path):
    texts = sorted(set(CORPUS))
    data = write_csv(tmp_path / "texts.csv", ["text"], [[text] for text in texts])
    assert (
        main(
            [
                "evaluate",
                "--task",
                "generation",
                "--endpoint",
                servers.chat.base_url,
                "--model",
                "tiny-chat",
                "--csv",
                str(data),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    per_text = [logprobs_here(servers.chat_folder, text) for text in texts]
    total, count = sum(sum(values) for values in per_text), sum(len(values) for values in per_text)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())["models"][0]["metrics"]
    assert metrics["tokens"] == count
    assert metrics["perplexity"] == pytest.approx(math.exp(-total / count), rel=1e-4)


def sentiment_rows(count: int) -> list[list[str]]:
    words = sorted({word for line in CORPUS for word in line.split()})
    labels = list(SENTIMENT_LABELS.values())
    return [
        [" ".join(words[(row * 7 + k) % len(words)] for k in range(3 + row % 9)), labels[row % 3]]
        for row in range(count)
    ]


def test_cli_evaluates_300_rows_concurrently_with_the_predictions_of_the_same_weights(servers, tmp_path, capsys):
    rows = sentiment_rows(300)
    data = write_csv(tmp_path / "reviews.csv", ["text", "label"], rows)
    out = tmp_path / "out"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "sentiment",
                "--endpoint",
                servers.classifier.base_url,
                "--model",
                "tiny-sentiment",
                "--api-key-env",
                KEY_ENV,
                "--max-concurrency",
                "4",
                "--labels",
                ",".join(SENTIMENT_LABELS.values()),
                "--csv",
                str(data),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    expected = classify(local(servers.classifier_folder, "sequence-classification"), [text for text, _ in rows])
    predictions = read_predictions(out)
    assert [row["prediction"] for row in predictions] == [result.label for result in expected]
    assert {row["status"] for row in predictions} == {"done"}
    model = json.loads((out / "metrics.json").read_text())["models"][0]
    assert (model["status"], model["rows_done"], model["timing"]["batches"]) == ("complete", 300, 10)  # 32 a request
    assert model["unknown_labels"] == {} and model["metrics"]["accuracy"] == pytest.approx(
        sum(r.label == gold for r, (_, gold) in zip(expected, rows)) / 300
    )


def run_cli(capsys, *arguments: str) -> tuple[int, str]:
    code = main(["evaluate", *arguments])
    return code, capsys.readouterr().err


def test_cli_server_errors_are_one_line_a_user_can_act_on(servers, tmp_path, capsys, monkeypatch):
    data = str(write_csv(tmp_path / "one.csv", ["text", "label"], [["good", "positive"]]))
    common = ["--task", "sentiment", "--csv", data, "--out", str(tmp_path / "o")]
    url = servers.classifier.base_url
    code, error = run_cli(capsys, *common, "--endpoint", f"http://127.0.0.1:{free_port()}/v1", "--model", "x")
    assert code == 2 and "Cannot reach the model server at http://127.0.0.1:" in error
    code, error = run_cli(capsys, *common, "--endpoint", url, "--model", "tiny-sentimnt", "--api-key-env", KEY_ENV)
    assert (code, error.strip()) == (
        2,
        f"error: The server at {url} does not serve 'tiny-sentimnt'. It serves: tiny-sentiment.",
    )
    monkeypatch.setenv("WRONG_KEY", "not-the-key")
    code, error = run_cli(capsys, *common, "--endpoint", url, "--model", "tiny-sentiment", "--api-key-env", "WRONG_KEY")
    assert (code, error.strip()) == (2, f"error: The model server at {url} refused the key in WRONG_KEY.")
    code, error = run_cli(capsys, *common, "--endpoint", url, "--model", "tiny-sentiment")
    assert (code, error.strip()) == (
        2,
        f"error: The model server at {url} needs a key: name the environment variable "
        "that holds it as api_key_env in models.yaml.",
    )
    code, error = run_cli(capsys, *common, "--endpoint", servers.chat.base_url, "--model", "tiny-chat")
    assert code == 1 and f"'tiny-chat' on {servers.chat.base_url} cannot do text classification" in error
    assert read_predictions(tmp_path / "o")[0]["status"] == "failed"


def test_a_server_stopped_mid_run_keeps_finished_rows_and_marks_the_rest_failed(servers, tmp_path, capsys, monkeypatch):
    """Runs last: it stops the classifier server."""
    rows = sentiment_rows(320)
    data = write_csv(tmp_path / "reviews.csv", ["text", "label"], rows)
    stopped = []

    def stop_after_the_first_rows(progress) -> None:
        if not stopped:
            stopped.append(progress.done)
            servers.classifier.stop()

    monkeypatch.setattr(cli, "_print_progress", stop_after_the_first_rows)
    out = tmp_path / "out"
    code, error = run_cli(
        capsys,
        "--task",
        "sentiment",
        "--endpoint",
        servers.classifier.base_url,
        "--model",
        "tiny-sentiment",
        "--api-key-env",
        KEY_ENV,
        "--max-concurrency",
        "2",
        "--csv",
        str(data),
        "--out",
        str(out),
    )
    predictions = read_predictions(out)
    done = [i for i, row in enumerate(predictions) if row["status"] == "done"]
    failed = [i for i, row in enumerate(predictions) if row["status"] == "failed"]
    assert code == 1 and "rows failed: " in error
    assert len(done) >= 32 and failed and len(done) + len(failed) == 320
    expected = classify(local(servers.classifier_folder, "sequence-classification"), [rows[i][0] for i in done])
    assert [predictions[i]["prediction"] for i in done] == [result.label for result in expected]
    assert all(predictions[i]["prediction"] == "" for i in failed)
