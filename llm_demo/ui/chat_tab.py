"""Chat tab: a conversation with a chat model, kept in the browser across reloads, with saved conversations; edits and
retries keep the old branch as an alternative, and answers can be liked or disliked (chat_branches.py)."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from .. import conversations
from ..feedback import FeedbackStore
from ..limits import SlidingWindowLimit
from ..registry import Registry
from ..tasks.chat import SavedConversation, as_json, as_markdown, current_of, saved_list, store, title_for
from . import chat_branches as turns
from .common import (
    bind,
    download_folder,
    model_picker,
    model_status,
    new_token_slider,
    on_page_load,
    page_state,
    say,
)
from .generation_tab import GENERATION_CONCURRENCY, MAX_NEW_TOKENS
from .i18n import t

TEXT = {
    "chat.tab": ("Chat", "对话"),
    "chat.chatbot": ("Conversation", "对话"),
    "chat.placeholder": (
        "Pick a chat model and write a message. The conversation stays in this browser.",
        "选择一个聊天模型并输入消息。对话会保存在此浏览器中。",
    ),
    "chat.message": ("Your message", "你的消息"),
    "chat.message_hint": ("Enter sends · Shift+Enter starts a new line", "回车发送 · Shift+回车换行"),
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
    "chat.previous": ("◀ Previous", "◀ 上一个"),
    "chat.next": ("Next ▶", "下一个 ▶"),
    "chat.answer_of": ("Answer {position}/{count}", "回答 {position}/{count}"),
    "chat.version_of": ("Your message, version {position}/{count}", "你的消息，第 {position}/{count} 版"),
    "chat.feedback_kept": (
        "Likes and dislikes are kept on this server to improve models: which model's answer you rated, not what "
        "was said.",
        "点赞和点踩会保存在本服务器上，用于改进模型：只记录你评价了哪个模型的回答，不记录对话内容。",
    ),
    "chat.feedback_kept_text": (
        "Likes and dislikes are kept on this server to improve models, with the conversation up to the answer you "
        "rated.",
        "点赞和点踩会保存在本服务器上，用于改进模型，连同截至所评价回答的对话内容。",
    ),
}
ERRORS_ZH = {
    "nothing_to_retry": "还没有可以重新回答的消息：请先发送一条。",
    "feedback_limited": "评价太频繁了：每位访客每 {seconds} 秒最多 {limit} 次。请在 {wait} 秒后再试。",
}
EMPTY = {"current": None, "conversations": []}


def _picker(stored: dict, request: gr.Request | None) -> dict:
    untitled = say("chat.untitled", request)
    choices = [(item.title or untitled, item.id) for item in saved_list(stored)]
    current = current_of(stored)
    if current.id not in {value for _, value in choices}:
        choices.insert(0, (untitled, current.id))
    return gr.update(choices=choices, value=current.id)


def settle(stored: dict, saved: SavedConversation | None, system_prompt: str, request: gr.Request) -> tuple:
    """After every change: keep the open conversation in the browser, first in the saved list, and show it as the
    tree has it (a stopped or failed answer leaves the window as the tree is), with its arrows."""
    saved = _titled(saved, system_prompt)
    stored = store(stored, saved)
    return stored, saved, _picker(stored, request), *_shown(saved, request)


def _titled(saved: SavedConversation | None, system_prompt: str) -> SavedConversation:
    """The open conversation (a fresh one before the first) with its title and the system prompt as typed now."""
    saved = saved or SavedConversation.new()
    return replace(saved, title=title_for(saved.messages), system_prompt=(system_prompt or "").strip())


def _shown(saved: SavedConversation, request: gr.Request | None) -> tuple:
    return turns.window(conversations.path(saved.tree)), *turns.arrows(saved.tree, request)


def _opened(stored: dict, request: gr.Request | None) -> tuple:
    current = current_of(stored)
    return stored, current, current.system_prompt, _picker(stored, request), "", *_shown(current, request)


def restore(stored: dict, history: list[dict], request: gr.Request) -> tuple:
    """Bring back the conversation that was open when the page was left. Nothing changes when there is none
    or the page already shows one, so a late read of the browser's storage never wipes what the user typed."""
    if history or not current_of(stored).messages:
        return tuple(gr.skip() for _ in range(7))
    return _opened(stored, request)[1:]


def open_conversation(stored: dict, chosen: str, request: gr.Request) -> tuple:
    return _opened({**stored, "current": chosen}, request)


def new_conversation(stored: dict, request: gr.Request) -> tuple:
    return _opened({**stored, "current": SavedConversation.new().id}, request)


def delete_conversation(stored: dict, request: gr.Request) -> tuple:
    """Forget the open conversation and open the most recent other one (or a fresh one)."""
    gone = current_of(stored).id
    others = [item.as_dict() for item in saved_list(stored) if item.id != gone]
    current = others[0]["id"] if others else SavedConversation.new().id
    return _opened({"current": current, "conversations": others}, request)


def export(saved: SavedConversation | None, system_prompt: str, model: str, request: gr.Request) -> list[str]:
    """The open conversation as a JSON file (for tools, with every branch) and a Markdown file (for people)."""
    saved = _titled(saved, system_prompt)
    names = {role: say(f"chat.role_{role}", request) for role in ("user", "assistant", "system")}
    folder = download_folder()
    files = [folder / "conversation.json", folder / "conversation.md"]
    files[0].write_text(as_json(saved, model), encoding="utf-8")
    files[1].write_text(as_markdown(saved, model, names), encoding="utf-8")
    return [str(path) for path in files]


def _ratings(registry: Registry) -> turns.Ratings:
    settings = registry.settings
    limit = SlidingWindowLimit(
        settings.arena_votes,
        settings.arena_window_seconds,
        "feedback_limited",
        "Too many ratings: at most {limit} every {seconds} s for one visitor. Try again in {wait} s.",
    )
    return turns.Ratings(FeedbackStore(settings.db_path), limit, settings.keep_feedback_text)


def build(registry: Registry) -> None:
    stored = page_state(EMPTY, "llm_demo-chat")
    with gr.Tab(t("chat.tab"), id="chat", elem_id="tab-chat"):
        saved = gr.State(None)  # the open conversation (SavedConversation), in the tab: between tabs it shifts labels
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
                    label=t("chat.chatbot"),
                    height=460,
                    placeholder=t("chat.placeholder"),
                    elem_id="chat-window",
                    editable="user",
                )
                with gr.Row(visible=False, equal_height=True, elem_id="chat-alternatives") as arrows:
                    previous = gr.Button(t("chat.previous"), size="sm", scale=0, min_width=110)
                    position = gr.Markdown(elem_id="chat-position")
                    following = gr.Button(t("chat.next"), size="sm", scale=0, min_width=110)
                note = gr.Markdown(elem_id="chat-note")
                message = gr.Textbox(
                    label=t("chat.message"),
                    placeholder=t("chat.message_hint"),
                    lines=1,  # one line: Enter sends and Shift+Enter breaks the line (several: the other way round)
                    max_lines=12,
                    elem_id="chat-message",
                )
                with gr.Row():
                    send_button = gr.Button(t("chat.send"), variant="primary")
                    stop = gr.Button(t("common.stop"), variant="stop")
                    retry_button = gr.Button(t("chat.retry"), elem_id="chat-retry")
                    undo_button = gr.Button(t("chat.undo"))
                    clear = gr.Button(t("chat.clear"))
                status = model_status()
                kept = "chat.feedback_kept_text" if registry.settings.keep_feedback_text else "chat.feedback_kept"
                gr.Markdown(t(kept), elem_classes=["model-status"])
    settings = [system_prompt, model, max_new_tokens, temperature]
    settled = dict(
        fn=settle,
        inputs=[stored, saved, system_prompt],
        outputs=[stored, saved, picker, chatbot, arrows, position],
        api_visibility="private",
        queue=False,
    )
    replies = [chatbot, message, note, status, saved]
    streaming = dict(concurrency_limit=GENERATION_CONCURRENCY, concurrency_id="generation")
    answers = [
        send_button.click(
            bind(turns.send, registry), [message, chatbot, saved, *settings], replies, api_name="chat", **streaming
        )
    ]
    for trigger, handler, inputs in (
        (message.submit, turns.send, [message, chatbot, saved, *settings]),
        (retry_button.click, turns.retry, [saved, *settings]),
        (chatbot.retry, turns.retry, [saved, *settings]),
        (chatbot.edit, turns.edit, [saved, *settings]),
    ):
        answers.append(trigger(bind(handler, registry), inputs, replies, api_visibility="private", **streaming))
    for event in answers:
        event.then(**settled)
    stop.click(None, cancels=answers, api_visibility="private").then(**settled)
    for trigger, handler, inputs, outputs in (
        (previous.click, bind(turns.step, -1), saved, saved),
        (following.click, bind(turns.step, +1), saved, saved),
        (chatbot.like, bind(turns.rate, _ratings(registry)), [saved, system_prompt], saved),
        (undo_button.click, turns.undo, saved, [saved, message]),
        (chatbot.undo, turns.undo, saved, [saved, message]),
        (clear.click, turns.clear, saved, [saved, note]),
        (chatbot.clear, turns.clear, saved, [saved, note]),
    ):
        trigger(handler, inputs, outputs, api_visibility="private", queue=False).then(**settled)
    chatbot.select(turns.focus, saved, [saved, arrows, position], api_visibility="private", queue=False)
    opened = [stored, saved, system_prompt, picker, note, chatbot, arrows, position]
    picker.input(open_conversation, [stored, picker], opened, api_visibility="private", queue=False)
    new.click(new_conversation, stored, opened, api_visibility="private", queue=False)
    delete.click(delete_conversation, stored, opened, api_visibility="private", queue=False)
    export_button.click(export, [saved, system_prompt, model], files, api_visibility="private")
    on_page_load(restore, [stored, chatbot], opened[1:], stored.change)
