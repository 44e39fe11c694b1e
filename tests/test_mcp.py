"""With LLM_DEMO_MCP=1 the app serves its tasks as Model Context Protocol tools: an agent's MCP client (the real
`mcp` package, over streamable HTTP) lists exactly the task tools, each documented, calls them on the tiny
models, and gets the app's own clear message, in its language, when an argument is refused."""

from __future__ import annotations

import ast
import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Tool
from served_app import served_app
from tiny_models import SENTIMENT_LABELS

from llm_demo.models.types import GenerationSettings, TranslationSettings, whole_reply
from llm_demo.registry import KIND_OF_TASK
from llm_demo.settings import get_settings
from llm_demo.tasks.chat import prepare
from llm_demo.tasks.generation import fit_to_window, stream, stream_chat
from llm_demo.tasks.sentiment import analyse_lines
from llm_demo.tasks.translation import translate
from llm_demo.tasks.what_if import what_if

TOOLS = {
    "translate",
    "generate",
    "chat",
    "compare",
    "classify",
    "sentiment",
    "answer",
    "fill_mask",
    "explain",
    "surprise",
    "what_if",
    "what_if_answer",
    "counterfactuals",
    "salience",
    "evaluate",
}
MAX_EVAL_ROWS = 5  # this app's row cap, to see an evaluation refused as a visitor's upload would be
CSV = "text,label\nI loved it,positive\nIt was awful,negative\nIt was fine,neutral\n"


@pytest.fixture(scope="module")
def mcp_url(tiny):
    """The whole app with LLM_DEMO_MCP=1, serving the tiny models; the URL an MCP client connects to."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_DEMO_MCP", "1")
        patch.setenv("LLM_DEMO_MAX_EVAL_ROWS", str(MAX_EVAL_ROWS))
        with served_app() as url:
            yield f"{url}gradio_api/mcp/"


async def _session(url: str, language: str, work):
    async with httpx.AsyncClient(headers={"Accept-Language": language}, timeout=120) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)


def _run(session) -> Any:
    """A session on a thread of its own: the browser tests' Playwright keeps an event loop running on this one."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, session).result()


def tools(url: str) -> dict[str, Tool]:
    listed = _run(_session(url, "en-US", lambda session: session.list_tools()))
    return {tool.name: tool for tool in listed.tools}


def call(url: str, name: str, arguments: dict, language: str = "en-US") -> CallToolResult:
    return _run(_session(url, language, lambda session: session.call_tool(name, arguments)))


def text_of(result: CallToolResult) -> str:
    assert [content.type for content in result.content] == ["text"]
    return result.content[0].text


def outputs(result: CallToolResult) -> list:
    """A tab tool's outputs (its components' values), as Gradio writes them into the tool's text."""
    assert not result.isError, text_of(result)
    return ast.literal_eval(text_of(result))


def test_mcp_is_served_only_when_asked(monkeypatch):
    from llm_demo.ui import launch_options

    monkeypatch.delenv("LLM_DEMO_MCP", raising=False)
    monkeypatch.setenv("GRADIO_MCP_SERVER", "true")  # Gradio's own switch alone would list the arena too
    assert launch_options()["mcp_server"] is False
    monkeypatch.setenv("LLM_DEMO_MCP", "1")
    assert launch_options()["mcp_server"] is True


def test_the_tools_are_the_tasks_and_no_arena_vote_preview_or_ui_event(mcp_url):
    assert set(tools(mcp_url)) == TOOLS


def test_every_tool_and_argument_is_described_for_an_agent(mcp_url):
    listed = tools(mcp_url)
    for name, tool in listed.items():
        assert len(tool.description) > 60 and "Returns:" in tool.description, name
        undocumented = [arg for arg, schema in tool.inputSchema["properties"].items() if not schema.get("description")]
        assert undocumented == [], name
    assert listed["sentiment"].inputSchema["required"] == ["texts"]
    # the deployment's sentiment models, first the listed one (a model fine-tuned by an earlier test may follow)
    assert listed["sentiment"].inputSchema["properties"]["model"]["enum"][0] == "Tiny BERT sentiment"
    assert listed["generate"].inputSchema["required"] == ["prompt"]  # system prompt and seed may be left out
    assert listed["chat"].inputSchema["required"] == ["messages"]
    assert listed["chat"].inputSchema["properties"]["messages"]["type"] == "array"
    assert listed["compare"].inputSchema["properties"]["models"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": "2 to 4 generation models' names, as the `generate` tool lists them.",
    }
    assert listed["evaluate"].inputSchema["required"] == ["csv_text", "task"]


def test_sentiment_tool_labels_each_line_as_the_task_does(mcp_url, load):
    texts = "I loved this film.\nThe plot was flat."
    table, status = outputs(call(mcp_url, "sentiment", {"texts": texts, "model": "Tiny BERT sentiment"}))
    model = load("sentiment", "Tiny BERT sentiment", KIND_OF_TASK["sentiment"])
    assert table["headers"] == ["Text", "Label", "Score"]
    assert table["data"] == [[row.text, row.label, round(row.score, 4)] for row in analyse_lines(model, texts)]
    assert {row[1] for row in table["data"]} <= set(SENTIMENT_LABELS.values())
    assert "Runs on cpu" in status


def test_translate_tool_translates_as_the_task_does(mcp_url, load):
    arguments = {"text": "The meeting starts at nine.", "model": "Tiny BART", "beams": 2, "max_tokens": 6}
    translation, _ = outputs(call(mcp_url, "translate", arguments))
    model = load("translation", "Tiny BART", KIND_OF_TASK["translation"])
    assert translation == translate(model, [arguments["text"]], TranslationSettings(num_beams=2, max_new_tokens=6))[0]


def test_generate_tool_returns_the_whole_greedy_reply(mcp_url, load):
    arguments = {"prompt": "Once upon a time", "model": "Tiny GPT-2", "max_new_tokens": 6, "temperature": 0}
    reply, status = outputs(call(mcp_url, "generate", arguments))
    model = load("generation", "Tiny GPT-2", KIND_OF_TASK["generation"])
    settings = fit_to_window(model, arguments["prompt"], GenerationSettings(max_new_tokens=6, temperature=0))
    assert reply == whole_reply(stream(model, arguments["prompt"], settings))
    assert reply and "Runs on cpu" in status


def test_chat_tool_replies_to_the_whole_conversation(mcp_url, load):
    messages = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi, how can I help?"},
        {"role": "user", "content": "Name a colour."},
    ]
    arguments = {"messages": messages, "model": "Tiny chat GPT-2", "max_new_tokens": 5, "temperature": 0}
    result = call(mcp_url, "chat", arguments)
    assert not result.isError, text_of(result)
    model = load("generation", "Tiny chat GPT-2", KIND_OF_TASK["generation"])
    settings = GenerationSettings(max_new_tokens=5, temperature=0)
    assert text_of(result) == whole_reply(stream_chat(model, prepare(model, messages, 5).messages, settings))


def test_compare_tool_answers_with_every_model_and_its_speed(mcp_url):
    arguments = {"prompt": "Hello", "models": ["Tiny GPT-2", "Tiny chat GPT-2"], "max_new_tokens": 4}
    answers = json.loads(text_of(call(mcp_url, "compare", arguments)))
    assert [answer["model"] for answer in answers] == ["Tiny GPT-2", "Tiny chat GPT-2"]
    for answer in answers:
        assert "error" not in answer and answer["tokens"] >= 1 and answer["seconds"] > 0


def test_what_if_tool_scores_the_text_and_its_edit_as_the_task_does(mcp_url, load):
    arguments = {"original": "I loved it.", "edited": "I hated it.", "model": "Tiny BERT sentiment"}
    diff, table, summary, status = outputs(call(mcp_url, "what_if", arguments))
    model = load("sentiment", "Tiny BERT sentiment", KIND_OF_TASK["sentiment"])
    result = what_if(model, arguments["original"], arguments["edited"])
    assert [row[:3] for row in table["data"]] == [
        [c.label, round(c.before, 4), round(c.after, 4)] for c in result.changes
    ]
    assert [piece["token"] for piece in diff if piece["class_or_confidence"]] == ["loved", "hated"]


def test_salience_tool_shades_the_prompt(mcp_url):
    arguments = {"prompt": "The cat sat on the mat.", "answer": " It slept.", "model": "Tiny GPT-2"}
    prompt, _, summary, status = outputs(call(mcp_url, "salience", arguments))
    assert "".join(piece["token"] for piece in prompt) == arguments["prompt"]
    assert "Salience summed by words" in summary and "cpu · float32" in status


def test_evaluate_tool_measures_a_csv_given_as_text(mcp_url):
    metrics = json.loads(text_of(call(mcp_url, "evaluate", {"csv_text": CSV, "task": "sentiment"})))
    assert (metrics["task"], metrics["rows"], metrics["finished"]) == ("sentiment", 3, True)
    assert metrics["columns"] == {"text": "text", "label": "label"}
    [model] = metrics["models"]
    assert (model["model"], model["status"], model["rows_done"]) == ("Tiny BERT sentiment", "complete", 3)
    assert 0 <= model["metrics"]["accuracy"] <= 1


def refused(limit: int) -> list:
    """Arguments each tool refuses, and the app's message for each: the limits a visitor's input meets."""
    long = "x" * (limit + 1)
    six_rows = "text,label\n" + "good,positive\n" * (MAX_EVAL_ROWS + 1)
    return [
        ("sentiment", {"texts": "  "}, "Please enter the text."),
        ("sentiment", {"texts": long}, f"The text is {limit + 1:,} characters long; the limit is {limit:,}"),
        ("translate", {"text": ""}, "Please enter the text."),
        ("generate", {"prompt": long}, f"The prompt is {limit + 1:,} characters long"),
        ("chat", {"messages": [{"role": "assistant", "content": "Hi"}]}, "The last message must be the user's"),
        ("chat", {"messages": [{"role": "robot", "content": "Hi"}]}, 'Message 1 needs a role ("user" or'),
        ("compare", {"prompt": "Hi", "models": ["Tiny GPT-2"]}, "Compare 2 to 4 models at once (got 1)."),
        ("evaluate", {"csv_text": CSV, "task": "answers"}, "Unknown task 'answers'. Choose one of: classification"),
        ("evaluate", {"csv_text": six_rows, "task": "sentiment"}, "has 6 rows; this deployment evaluates at most 5"),
        ("what_if", {"original": "good", "edited": " "}, "Please enter the text."),
        ("salience", {"prompt": "Hi", "answer": "there", "span_start": 2, "span_end": 9}, "The span must lie within"),
    ]


@pytest.mark.parametrize("name, arguments, message", refused(get_settings().max_input_chars))
def test_a_refused_argument_is_a_tool_error_with_the_apps_message(mcp_url, name, arguments, message):
    result = call(mcp_url, name, arguments)
    assert result.isError
    assert message in text_of(result) and "Traceback" not in text_of(result)


def test_a_tool_error_is_in_the_clients_language(mcp_url):
    result = call(mcp_url, "compare", {"prompt": "你好", "models": []}, language="zh-CN")
    assert result.isError and text_of(result) == "一次请对比 2 到 4 个模型（收到 0 个）。"
    for name, arguments in (("sentiment", {"texts": ""}), ("generate", {"prompt": ""})):
        result = call(mcp_url, name, arguments, language="zh-CN")
        assert result.isError and text_of(result) == "请输入内容。", name


def test_an_endpoint_that_is_no_tool_still_answers_the_page_and_clients(mcp_url):
    from gradio_client import Client

    client = Client(mcp_url.removesuffix("gradio_api/mcp/"), verbose=False)
    assert "/leaderboard" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    table, _ = client.predict(api_name="/leaderboard")
    assert table["headers"][0] == "Rank"
