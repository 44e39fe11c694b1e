"""Chat tab: a conversation with a chat model, kept in the browser across reloads, with saved conversations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import gradio as gr

from ..inputs import clean_text
from ..models.types import Message
from ..registry import Registry
from ..tasks.chat import (
    SavedConversation,
    as_json,
    as_markdown,
    conversation,
    current_of,
    plain_history,
    prepare,
    saved_list,
    store,
    title_for,
    without_last_turn,
)
from ..tasks.generation import GenerationSettings, stream_chat
from .common import (
    bind,
    download_folder,
    load_picked,
    model_picker,
    model_status,
    new_token_slider,
    on_page_load,
    page_state,
    runs_on,
    say,
    user_errors,
)
from .generation_tab import GENERATION_CONCURRENCY, MAX_NEW_TOKENS
from .i18n import t
from .safe_markdown import as_typed, safe_markdown

TEXT = {
    "chat.tab": ("Chat", "对话"),
    "chat.chatbot": ("Conversation", "对话"),
    "chat.placeholder": (
        "Pick a chat model and write a message. The conversation stays in this browser.",
        "选择一个聊天模型并输入消息。对话会保存在此浏览器中。",
    ),
    "chat.message": ("Your message", "你的消息"),
    "chat.send": ("Send", "发送"),
    "chat.retry": ("Retry", "重新生成"),
    "chat.undo": ("Undo", "撤销"),
    "chat.clear": ("Clear", "清空"),
    "chat.saved": ("Saved conversations", "已保存的对话"),
    "chat.new": ("New conversation", "新对话"),
    "chat.delete": ("Delete conversation", "删除对话"),
    "chat.system": ("System prompt", "系统提示词"),
    "chat.export": ("Export (JSON and Markdown)", "导出（JSON 和 Markdown）"),
    "chat.files": ("Exported conversation", "导出的对话"),
    "chat.dropped": (
        "{count} oldest turn(s) left out: with them the conversation would not fit the model's "
        "window of {window} tokens.",
        "已省略最早的 {count} 轮对话：否则对话会超出模型 {window} 个词元的窗口。",
    ),
    "chat.role_user": ("User", "用户"),
    "chat.role_assistant": ("Assistant", "助手"),
    "chat.role_system": ("System", "系统"),
    "chat.untitled": ("(new conversation)", "（新对话）"),
}
EMPTY = {"current": None, "conversations": []}


def typed(history: list[dict] | None) -> list[Message]:
    """The conversation the chat window sends back, as it was written (the window shows it made safe)."""
    return [{**message, "content": as_typed(message["content"])} for message in plain_history(history)]


def shown(messages: list[Message]) -> list[Message]:
    """Messages for the chat window: a reply (or a pasted message) may hold Markdown images and HTML that would
    have the reader's browser fetch any URL; shown safe, and read back by `typed`."""
    return [{**message, "content": safe_markdown(message["content"])} for message in messages]


@user_errors
def send(
    registry: Registry,
    message: str,
    history: list[dict],
    system_prompt: str,
    model: str,
    max_new_tokens: float,
    temperature: float,
    request: gr.Request,
) -> Iterator[tuple[list[dict], str, str, str]]:
    """Stream the model's reply to the whole conversation; the note says when old turns were left out."""
    message = clean_text(message, "message")
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=temperature).checked()
    earlier = typed(history)
    messages = conversation(earlier, system_prompt, message)  # refuses an oversized history before any loading
    loaded = load_picked(registry, "generation", model, request=request)
    prompt = prepare(loaded, messages, settings.max_new_tokens)
    note = (
        say("chat.dropped", request, count=prompt.dropped_turns, window=loaded.token_limit)
        if prompt.dropped_turns
        else ""
    )
    window = shown(earlier + [{"role": "user", "content": message}])
    status = runs_on(loaded, request)
    yield window, "", note, status
    for text in stream_chat(loaded, prompt.messages, settings):
        yield window + [{"role": "assistant", "content": safe_markdown(text)}], "", note, status


def retry(
    registry: Registry,
    history: list[dict],
    system_prompt: str,
    model: str,
    max_new_tokens: float,
    temperature: float,
    request: gr.Request,
) -> Iterator[tuple[list[dict], str, str, str]]:
    """Ask again for the last reply."""
    earlier, message = without_last_turn(typed(history))
    yield from send(registry, message, earlier, system_prompt, model, max_new_tokens, temperature, request)


def undo(history: list[dict]) -> tuple[list[dict], str]:
    """Take back the last message and its reply; the message returns to the box for editing."""
    earlier, message = without_last_turn(typed(history))
    return shown(earlier), message


def _picker(stored: dict, request: gr.Request | None) -> dict:
    untitled = say("chat.untitled", request)
    choices = [(item.title or untitled, item.id) for item in saved_list(stored)]
    current = current_of(stored)
    if current.id not in {value for _, value in choices}:
        choices.insert(0, (untitled, current.id))
    return gr.update(choices=choices, value=current.id)


def save(stored: dict, history: list[dict], system_prompt: str, request: gr.Request) -> tuple[dict, dict]:
    """Keep the open conversation in the browser, first in the saved list."""
    messages = typed(history)
    current = replace(
        current_of(stored), messages=messages, title=title_for(messages), system_prompt=(system_prompt or "").strip()
    )
    stored = store(stored, current)
    return stored, _picker(stored, request)


def _opened(stored: dict, request: gr.Request | None) -> tuple[dict, list[dict], str, dict, str]:
    current = current_of(stored)
    return stored, shown(current.messages), current.system_prompt, _picker(stored, request), ""


def restore(stored: dict, history: list[dict], request: gr.Request) -> tuple:
    """Bring back the conversation that was open when the page was left. Nothing changes when there is none
    or the page already shows one, so a late read of the browser's storage never wipes what the user typed."""
    if history or not current_of(stored).messages:
        return tuple(gr.skip() for _ in range(4))
    return _opened(stored, request)[1:]


def open_conversation(stored: dict, chosen: str, request: gr.Request) -> tuple[dict, list[dict], str, dict, str]:
    return _opened({**stored, "current": chosen}, request)


def new_conversation(stored: dict, request: gr.Request) -> tuple[dict, list[dict], str, dict, str]:
    return _opened({**stored, "current": SavedConversation.new().id}, request)


def delete_conversation(stored: dict, request: gr.Request) -> tuple[dict, list[dict], str, dict, str]:
    """Forget the open conversation and open the most recent other one (or a fresh one)."""
    gone = current_of(stored).id
    others = [item.as_dict() for item in saved_list(stored) if item.id != gone]
    current = others[0]["id"] if others else SavedConversation.new().id
    return _opened({"current": current, "conversations": others}, request)


def export(history: list[dict], system_prompt: str, model: str, request: gr.Request) -> list[str]:
    """The open conversation as a JSON file (for tools) and a Markdown file (for people)."""
    messages = typed(history)
    saved = SavedConversation(
        id="", title=title_for(messages), system_prompt=(system_prompt or "").strip(), messages=messages
    )
    names = {role: say(f"chat.role_{role}", request) for role in ("user", "assistant", "system")}
    folder = download_folder()
    files = [folder / "conversation.json", folder / "conversation.md"]
    files[0].write_text(as_json(saved, model), encoding="utf-8")
    files[1].write_text(as_markdown(saved, model, names), encoding="utf-8")
    return [str(path) for path in files]


def build(registry: Registry) -> None:
    stored = page_state(EMPTY, "llm_demo-chat")
    with gr.Tab(t("chat.tab"), id="chat", elem_id="tab-chat"):
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                picker = gr.Dropdown(label=t("chat.saved"), choices=[], interactive=True)
                with gr.Row():
                    new = gr.Button(t("chat.new"), size="sm")
                    delete = gr.Button(t("chat.delete"), size="sm", variant="stop")
                model = model_picker(registry, "generation")
                system_prompt = gr.Textbox(label=t("chat.system"), lines=3)
                with gr.Accordion(t("common.advanced"), open=False):
                    max_new_tokens = new_token_slider(
                        registry, "generation", model, MAX_NEW_TOKENS, 256, "generation.max_new_tokens"
                    )
                    temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=t("generation.temperature"))
                export_button = gr.Button(t("chat.export"), size="sm")
                files = gr.File(label=t("chat.files"), file_count="multiple", interactive=False, height=120)
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label=t("chat.chatbot"), height=460, placeholder=t("chat.placeholder"), elem_id="chat-window"
                )
                note = gr.Markdown(elem_id="chat-note")
                message = gr.Textbox(label=t("chat.message"), lines=2, elem_id="chat-message")
                with gr.Row():
                    send_button = gr.Button(t("chat.send"), variant="primary")
                    stop = gr.Button(t("common.stop"), variant="stop")
                    retry_button = gr.Button(t("chat.retry"))
                    undo_button = gr.Button(t("chat.undo"))
                    clear = gr.Button(t("chat.clear"))
                status = model_status()
    settings = [system_prompt, model, max_new_tokens, temperature]
    replies = [chatbot, message, note, status]
    remember = dict(
        fn=save,
        inputs=[stored, chatbot, system_prompt],
        outputs=[stored, picker],
        api_visibility="private",
        queue=False,
    )
    streaming = dict(concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="generation")
    sent = send_button.click(bind(send, registry), [message, chatbot, *settings], replies, api_name="chat", **streaming)
    submitted = message.submit(
        bind(send, registry), [message, chatbot, *settings], replies, api_visibility="private", **streaming
    )
    retried = retry_button.click(
        bind(retry, registry), [chatbot, *settings], replies, api_visibility="private", **streaming
    )
    for event in (sent, submitted, retried):
        event.then(**remember)
    stop.click(None, cancels=[sent, submitted, retried], api_visibility="private").then(**remember)
    undo_button.click(undo, chatbot, [chatbot, message], api_visibility="private", queue=False).then(**remember)
    clear.click(lambda: ([], ""), None, [chatbot, note], api_visibility="private", queue=False).then(**remember)
    opened = [stored, chatbot, system_prompt, picker, note]
    picker.input(open_conversation, [stored, picker], opened, api_visibility="private", queue=False)
    new.click(new_conversation, stored, opened, api_visibility="private", queue=False)
    delete.click(delete_conversation, stored, opened, api_visibility="private", queue=False)
    export_button.click(export, [chatbot, system_prompt, model], files, api_visibility="private")
    on_page_load(restore, [stored, chatbot], opened[1:], stored.change)
