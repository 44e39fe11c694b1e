"""The app as tools for agents over the Model Context Protocol, served when LLM_DEMO_MCP=1: the tabs' task
endpoints, and chat, compare and evaluate as plain functions over the tasks.

Gradio lists every documented endpoint as a tool named after its function, and reads the tool's description and
its parameters' docs from the function's docstring (the summary, "Args:" one line per parameter, "Returns:"). So
the handlers' docstrings are written for an agent, the tabs' endpoints take their API names as tool names, and
every other public endpoint (arena battles, votes and leaderboard, evaluation and answers runs, fine-tuning,
attention maps) stays callable as before but undocumented: neither on the API page nor among the tools.
"""

from __future__ import annotations

import json
from collections import deque

import gradio as gr

from ..errors import InputError
from ..evaluation.columns import guess_columns
from ..evaluation.downloads import metrics_dict
from ..evaluation.reading import open_table
from ..evaluation.run import evaluate as run_evaluation
from ..inputs import clean_text
from ..models.types import Message, whole_reply
from ..registry import Registry
from ..tasks.chat import conversation, prepare, reply_tokens
from ..tasks.compare import ModelProgress, side_by_side
from ..tasks.generation import GenerationSettings, stream, stream_chat
from .common import bind, download_folder, error_message, load_picked, user_errors
from .evaluation_tab import TASKS as EVALUATION_TASKS
from .evaluation_tab import model_choices
from .generation_tab import GENERATION_CONCURRENCY

# The tabs' endpoints that are tools, by API name (which becomes the tool's name).
TAB_TOOLS = (
    "translate",
    "generate",
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
)
MAX_COMPARED = 4  # as many models as the compare tab has columns
MB = 1024 * 1024  # Gradio's megabyte, as in the upload limit
ERRORS_ZH = {
    "chat_bad_message": "第 {index} 条消息需要角色（“user”或“assistant”；系统提示词另有参数）和文本内容。",
    "chat_last_not_user": "最后一条消息必须是用户的：模型要回复的正是它。",
    "compare_count": "一次请对比 2 到 {limit} 个模型（收到 {count} 个）。",
    "csv_too_large": "CSV 文本有 {size:.1f} MB；上限为 {limit} MB（LLM_DEMO_MAX_UPLOAD_MB），与上传文件相同。",
}


@user_errors
def chat(
    registry: Registry,
    messages: list[dict[str, str]],
    model: str = "",
    system_prompt: str = "",
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    request: gr.Request | None = None,
) -> str:
    """Reply to a conversation with a chat model, as the app's Chat tab does. The model reads the whole
    conversation through its own chat template; if it would not fit the model's window, the oldest turns are
    left out (the system prompt stays). Nothing is kept between calls: send the whole conversation each time.

    Args:
        messages: the conversation, oldest first: {"role": "user" or "assistant", "content": text}, the user's last.
        model: a generation model's name (the `generate` tool lists them), or empty for the default model.
        system_prompt: instructions the model reads before the conversation; empty for none.
        max_new_tokens: the longest reply, in tokens: 1 to 4096, less where the model's window is smaller.
        temperature: 0 always picks the most likely token; higher (up to 5) gives more varied replies.

    Returns:
        The model's reply, as text.
    """
    earlier, message = _new_user_message(messages)
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=temperature).checked()
    whole = conversation(earlier, system_prompt, message)  # refuses an oversized history before any loading
    loaded = load_picked(registry, "generation", model, request=request)
    prompt = prepare(loaded, whole, settings.max_new_tokens)
    return whole_reply(stream_chat(loaded, prompt.messages, settings))


def _new_user_message(messages: list[dict[str, str]]) -> tuple[list[Message], str]:
    """The earlier turns and the user's new message; an agent's malformed message is named by its place."""
    for index, message in enumerate(messages if isinstance(messages, list) else [None], start=1):
        if not (
            isinstance(message, dict)
            and message.get("role") in ("user", "assistant")
            and isinstance(message.get("content"), str)
        ):
            raise InputError(
                "chat_bad_message",
                'Message {index} needs a role ("user" or "assistant"; the system prompt has its own argument) '
                "and a text content.",
                index=index,
            )
    if not messages or messages[-1]["role"] != "user":
        raise InputError("chat_last_not_user", "The last message must be the user's: it is what the model replies to.")
    earlier = [{"role": message["role"], "content": message["content"]} for message in messages[:-1]]
    return earlier, clean_text(messages[-1]["content"], "message")


@user_errors
def compare(
    registry: Registry,
    prompt: str,
    models: list[str],
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    request: gr.Request | None = None,
) -> str:
    """Send one prompt to 2 to 4 generation models at once and return every answer with its speed, as the app's
    Compare tab does: to see how models differ in what they say and how fast they say it.

    Args:
        prompt: the prompt every model answers (chat models receive it as the user's message).
        models: 2 to 4 generation models' names, as the `generate` tool lists them.
        max_new_tokens: the longest answer, in tokens: 1 to 4096, less where a model's window is smaller.
        temperature: 0 always picks the most likely token; higher (up to 5) gives more varied answers.

    Returns:
        JSON, per model in the given order: model, answer (or error), first_token_s, seconds, tokens, tokens_per_second.
    """
    prompt = clean_text(prompt, "prompt")
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=temperature).checked()
    picked = [choice.strip() for choice in models or [] if isinstance(choice, str) and choice.strip()]
    if not 2 <= len(picked) <= MAX_COMPARED:
        raise InputError(
            "compare_count", "Compare 2 to {limit} models at once (got {count}).", limit=MAX_COMPARED, count=len(picked)
        )
    loaded = [load_picked(registry, "generation", choice, request=request) for choice in picked]
    answers = side_by_side(
        [lambda one=one: stream(one, prompt, settings) for one in loaded],
        [lambda reply, one=one: reply_tokens(one, reply) for one in loaded],
    )
    final = deque(answers, maxlen=1)[0]
    return json.dumps([_compared(choice, item, request) for choice, item in zip(picked, final)], ensure_ascii=False)


def _compared(model: str, progress: ModelProgress, request: gr.Request | None) -> dict:
    """One model's answer and figures, or why it gave none."""
    said = {"error": error_message(progress.error, request)} if progress.error else {"answer": progress.text}
    return {
        "model": model,
        **said,
        "first_token_s": progress.first_token_s,
        "seconds": progress.seconds,
        "tokens": progress.tokens,
        "tokens_per_second": progress.tokens_per_second,
    }


@user_errors
def evaluate(registry: Registry, csv_text: str, task: str, model: str = "", request: gr.Request | None = None) -> str:
    """Measure one model on a labelled table given as CSV text, as the app's Evaluation tab does with an uploaded
    file, and return the metrics with 95% confidence intervals. The first row names the columns; which column
    plays which role is guessed from those names: text and label (classification, sentiment, zero-shot),
    question, context and answer (qa; several answers as a JSON list or separated by |), source and reference
    (translation), text (generation, measured by perplexity).

    Args:
        csv_text: the table as CSV text, header row first; within the upload limit (50 MB unless set) and row cap.
        task: one of classification, sentiment, zero-shot, qa, translation, generation.
        model: a model's name for that task (the matching tool lists them), or empty for the task's first model.

    Returns:
        JSON as the Evaluation tab's metrics.json: task, rows, columns used; per model metrics, speed, rows done.
    """
    if task not in EVALUATION_TASKS:
        tasks = ", ".join(EVALUATION_TASKS)
        raise InputError("unknown_task", "Unknown task '{task}'. Choose one of: {tasks}.", task=task, tasks=tasks)
    folder = download_folder()
    path = folder / "data.csv"
    path.write_bytes(_table_bytes(csv_text, registry.settings.max_upload_mb))
    table = open_table(path, registry.settings.max_eval_rows or None)
    choice = (model or "").strip() or next(iter(model_choices(registry, task)), "")
    result = run_evaluation(task, table, guess_columns(table.columns, task), [choice], folder, registry)
    return json.dumps(metrics_dict(result), ensure_ascii=False)


def _table_bytes(csv_text: str, limit: int) -> bytes:
    """CSV text as the file an upload would be, held to the same size limit (LLM_DEMO_MAX_UPLOAD_MB)."""
    if not isinstance(csv_text, str):
        raise InputError("not_text", "The {what} must be text.", what="CSV text")
    if not csv_text.strip():
        raise InputError("empty_text", "Please enter the {what}.", what="CSV text")
    data = csv_text.encode("utf-8", errors="replace")
    if len(data) > limit * MB:
        raise InputError(
            "csv_too_large",
            "The CSV text is {size:.1f} MB; the limit is {limit} MB (LLM_DEMO_MAX_UPLOAD_MB), as for an upload.",
            size=len(data) / MB,
            limit=limit,
        )
    return data


def serve_tools(demo: gr.Blocks, registry: Registry) -> None:
    """Within `demo`'s context, after the tabs: make the tabs' task endpoints the only tools among the endpoints
    there are (see the module's docstring), then add chat, compare and evaluate."""
    for block_fn in demo.fns.values():
        if block_fn.api_visibility != "public":
            continue
        if block_fn.api_name in TAB_TOOLS:
            block_fn.fn.__name__ = block_fn.api_name  # bind()'s copy for this one endpoint, named for agents
        else:
            block_fn.api_visibility = "undocumented"
    streaming = {"concurrency_limit": GENERATION_CONCURRENCY, "concurrency_id": "generation"}
    gr.api(bind(chat, registry), api_name="chat_messages", **streaming)
    gr.api(bind(compare, registry), api_name="compare_models", **streaming)
    gr.api(bind(evaluate, registry), api_name="evaluate_csv", concurrency_limit=1, concurrency_id="evaluation")
