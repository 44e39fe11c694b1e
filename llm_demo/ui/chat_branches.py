"""The chat tab's turns over a conversation with branches: send, retry and edit stream an answer into the tree, the
arrows step between alternatives, and a like or dislike is kept with the conversation and on the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import gradio as gr

from .. import conversations
from ..conversations import Conversation, Node
from ..errors import InputError
from ..feedback import FeedbackStore, ratings
from ..inputs import clean_text
from ..limits import SlidingWindowLimit
from ..models.types import Message
from ..registry import Registry
from ..tasks.chat import SavedConversation, conversation, plain_history, prepare, text_of
from ..tasks.generation import GenerationSettings, stream_chat
from .common import load_picked, runs_on, say, user_errors, visitor
from .safe_markdown import as_typed, safe_markdown

THUMBS = {"like": "Like", "dislike": "Dislike"}  # our feedback as the chat window's thumbs show it
LIKED = {True: "like", False: "dislike"}  # gr.LikeData.liked: True, False, or "" when a thumb is taken back
Turn = tuple[object, object, str, str, SavedConversation]  # window, message box, note, status, the conversation


def typed(history: list[dict] | None) -> list[Message]:
    """The conversation the chat window sends back, as it was written (the window shows it made safe)."""
    return [{**message, "content": as_typed(message["content"])} for message in plain_history(history)]


def shown(messages: list[Message]) -> list[Message]:
    """Messages for the chat window: a reply (or a pasted message) may hold Markdown images and HTML that would
    have the reader's browser fetch any URL; shown safe, and read back by `typed`."""
    return [{**message, "content": safe_markdown(message["content"])} for message in messages]


def window(nodes: list[Node]) -> gr.Chatbot:
    """The chat window showing these messages, with the thumbs each answer was given."""
    return gr.Chatbot(
        value=messages_only(nodes),
        feedback_value=[THUMBS.get(node.feedback) for node in nodes if node.role == "assistant"],
    )


def messages_only(nodes: list[Node]) -> list[Message]:
    """The messages without the thumbs: what the /chat API returns (a new answer has none yet; the page shows the
    thumbs again once the answer is done)."""
    return shown(conversations.as_messages(nodes))


def arrows(tree: Conversation, request: gr.Request | None) -> tuple[dict, str]:
    """The row of arrows and where they stand ("Answer 2/3"), hidden while no message shown has alternatives."""
    where = conversations.stepping(tree)
    if where is None:
        return gr.update(visible=False), ""
    key = "chat.answer_of" if where.node.role == "assistant" else "chat.version_of"
    return gr.update(visible=True), say(key, request, position=where.position, count=where.count)


def opened(saved: SavedConversation | None, history: list[dict] | None) -> SavedConversation:
    """The open conversation, if the chat window shows its branch; otherwise (an API client that sends its own
    history, or a page that never opened one) that history as a conversation of one branch."""
    saved = saved or SavedConversation.new()
    earlier = typed(history)
    if typed(saved.messages) == earlier:
        return saved
    return replace(saved, tree=conversations.from_messages(earlier))


def answer(
    registry: Registry,
    saved: SavedConversation,
    question: Node,
    system_prompt: str,
    model: str,
    settings: GenerationSettings,
    box: object,
    request: gr.Request | None,
    view: Callable[[list[Node]], object] = window,
) -> Iterator[Turn]:
    """Stream a new answer to `question` into the tree, beside any earlier ones; the note says when old turns were
    left out. Nothing changes before the model is loaded and the conversation fits, so an error leaves it as it was."""
    earlier = conversations.ancestors(saved.tree, question.id)
    messages = conversation(
        conversations.as_messages(earlier), system_prompt, question.content
    )  # refuses an oversized history
    loaded = load_picked(registry, "generation", model, request=request)
    prompt = prepare(loaded, messages, settings.max_new_tokens)
    note = (
        say("chat.dropped", request, count=prompt.dropped_turns, window=loaded.token_limit)
        if prompt.dropped_turns
        else ""
    )
    status = runs_on(loaded, request)
    yield view(earlier + [question]), box, note, status, saved
    reply = None
    for text in stream_chat(loaded, prompt.messages, settings):
        if reply is None:  # the answer joins the tree with its first words: a Stop before them leaves none
            tree, reply = conversations.add(saved.tree, question.id, "assistant", text, model=model)
        else:
            tree = conversations.write(saved.tree, reply.id, text)
        saved = replace(saved, tree=tree)
        yield view(conversations.path(saved.tree)), box, note, status, saved


def _settings(max_new_tokens: float, temperature: float) -> GenerationSettings:
    return GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=temperature).checked()


@user_errors
def send(
    registry: Registry,
    message: str,
    history: list[dict],
    saved: SavedConversation | None,
    system_prompt: str,
    model: str,
    max_new_tokens: float,
    temperature: float,
    request: gr.Request,
) -> Iterator[Turn]:
    """The reader's message after the branch shown, and the model's answer to the whole conversation."""
    message = clean_text(message, "message")
    settings = _settings(max_new_tokens, temperature)
    saved = opened(saved, history)
    tree, question = conversations.ask(saved.tree, message)
    yield from answer(
        registry, replace(saved, tree=tree), question, system_prompt, model, settings, "", request, messages_only
    )


@user_errors
def retry(
    registry: Registry,
    saved: SavedConversation | None,
    system_prompt: str,
    model: str,
    max_new_tokens: float,
    temperature: float,
    request: gr.Request,
) -> Iterator[Turn]:
    """Another answer to the last message; the earlier answers stay as alternatives."""
    settings = _settings(max_new_tokens, temperature)
    saved = saved or SavedConversation.new()
    question = conversations.last_question(saved.tree)
    if question is None:
        raise InputError("nothing_to_retry", "There is no message to answer again yet: send one first.")
    yield from answer(registry, saved, question, system_prompt, model, settings, gr.skip(), request)


@user_errors
def edit(
    registry: Registry,
    saved: SavedConversation | None,
    system_prompt: str,
    model: str,
    max_new_tokens: float,
    temperature: float,
    data: gr.EditData,
    request: gr.Request,
) -> Iterator[Turn]:
    """The reader rewrote an earlier message: it is answered again from there, and the turns that followed the old
    version stay with it as an alternative branch."""
    text = clean_text(text_of(data.value), "message")
    settings = _settings(max_new_tokens, temperature)
    saved = saved or SavedConversation.new()
    tree, question = conversations.edit(saved.tree, data.index, text)
    yield from answer(registry, replace(saved, tree=tree), question, system_prompt, model, settings, gr.skip(), request)


def step(delta: int, saved: SavedConversation | None) -> SavedConversation | None:
    """Show the previous (-1) or next (+1) alternative, with the turns that followed it."""
    return saved and replace(saved, tree=conversations.step(saved.tree, delta))


def focus(saved: SavedConversation | None, data: gr.SelectData, request: gr.Request) -> tuple:
    """The arrows step through the message the reader clicked (the window is left alone: the reader may be
    selecting its text)."""
    if saved is None:
        return None, *arrows(Conversation(), request)
    saved = replace(saved, tree=conversations.focus_on(saved.tree, data.index))
    return saved, *arrows(saved.tree, request)


def undo(saved: SavedConversation | None) -> tuple[SavedConversation | None, str]:
    """Take back the last message and its answers; the message returns to the box for editing."""
    if saved is None:
        return None, ""
    tree, message = conversations.undo(saved.tree)
    return replace(saved, tree=tree), message


def clear(saved: SavedConversation | None) -> tuple[SavedConversation | None, str]:
    """An empty conversation in place of the open one (it leaves the saved list), and no note."""
    return (saved and replace(saved, tree=Conversation())), ""


@dataclass(frozen=True)
class Ratings:
    """Where likes and dislikes go besides the conversation: the app's SQLite file, at most so many per visitor (the
    arena's vote limit), with the conversation's text only where the deployment asks for it."""

    store: FeedbackStore
    limit: SlidingWindowLimit
    keep_text: bool


@user_errors
def rate(
    kept: Ratings, saved: SavedConversation | None, system_prompt: str, data: gr.LikeData, request: gr.Request
) -> SavedConversation | None:
    """A like or dislike of a shown answer (or one taken back), kept with the conversation and on the server."""
    shown_path = conversations.path(saved.tree) if saved else []
    if not (0 <= data.index < len(shown_path)) or shown_path[data.index].role != "assistant":
        return saved
    kept.limit.take(*visitor(request))
    rated = shown_path[data.index]
    tree = conversations.rate(saved.tree, rated.id, LIKED.get(data.liked, ""))
    kept.store.record(saved.id, rated.parent, ratings(saved.id, tree, rated.id, system_prompt.strip(), kept.keep_text))
    return replace(saved, tree=tree)
