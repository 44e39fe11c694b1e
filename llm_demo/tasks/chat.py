"""A conversation with a chat model: the history as chat messages, cut to the model's window, kept and exported.

Token counting is a function passed in (`ConversationCounter`), so trimming can be tested on its own; by default it
is the model's own count through its chat template, wherever the model runs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import conversations
from ..conversations import Conversation
from ..errors import InputError, ModelError
from ..inputs import check_length
from ..models import Model
from ..models.types import Message
from ..settings import get_settings

ConversationCounter = Callable[[list[Message]], int]  # tokens of a conversation through the chat template
MAX_SAVED = 50  # conversations kept in a browser; the oldest go first
TITLE_CHARS = 40


@dataclass(frozen=True)
class ChatPrompt:
    """What reaches the model for the next reply, and how many of the oldest turns had to go."""

    messages: list[Message]
    dropped_turns: int


def text_of(content: Any) -> str:
    """A message's text, whether plain or Gradio's list of content parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return "".join(text_of(part) for part in content)
    return ""


def plain_history(history: list[dict] | None) -> list[Message]:
    """User and assistant turns as plain {"role", "content"} messages (a chat window may hold other parts)."""
    return [
        {"role": message["role"], "content": text_of(message.get("content"))}
        for message in history or []
        if message.get("role") in ("user", "assistant")
    ]


def conversation(history: list[dict] | None, system_prompt: str | None, user_message: str) -> list[Message]:
    """The whole conversation the model should answer: system prompt, earlier turns, the new message. A system
    prompt or history over its cap is refused, never cut short: the page keeps what the user wrote."""
    system_prompt = check_length((system_prompt or "").strip(), "system prompt")
    earlier = check_history(plain_history(history))
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return system + earlier + [{"role": "user", "content": user_message}]


def check_history(messages: list[Message]) -> list[Message]:
    """Earlier turns within $LLM_DEMO_MAX_CHAT_TURNS turns and $LLM_DEMO_MAX_CHAT_CHARS characters: each request
    carries the whole history, and cutting it to the window costs work that grows with it."""
    settings = get_settings()
    turns = len(_turns(messages))
    if turns > settings.max_chat_turns:
        raise InputError(
            "chat_too_many_turns",
            "The conversation has {turns:,} earlier turns; the limit is {limit:,} (LLM_DEMO_MAX_CHAT_TURNS). "
            "Start a new conversation to go on.",
            turns=turns,
            limit=settings.max_chat_turns,
        )
    length = sum(len(message["content"]) for message in messages)
    if length > settings.max_chat_chars:
        raise InputError(
            "chat_too_long",
            "The conversation so far is {length:,} characters long; the limit is {limit:,} (LLM_DEMO_MAX_CHAT_CHARS). "
            "Start a new conversation to go on.",
            length=length,
            limit=settings.max_chat_chars,
        )
    return messages


def _turns(messages: list[Message]) -> list[list[Message]]:
    """Messages grouped into turns, each starting at a user message (with the replies that follow it)."""
    turns: list[list[Message]] = []
    for message in messages:
        if message["role"] == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def fit_window(
    messages: list[Message], count_tokens: ConversationCounter, window: int, max_new_tokens: int
) -> ChatPrompt:
    """Drop the oldest turns until the conversation plus the reply fits the window; the system prompt and
    the newest turn always stay. If they leave less room than `max_new_tokens`, the reply is cut to what is
    left (generation caps it); only if they alone fill the window is that the user's to fix.

    The count only falls as turns are dropped, so the fewest drops that fit are found by bisection: a few counts
    (each a pass through the chat template, or a request to a server) rather than one per dropped turn."""
    system = [message for message in messages[:1] if message["role"] == "system"]
    turns = _turns(messages[len(system) :])
    counted: dict[int, int] = {}

    def kept(dropped: int) -> list[Message]:
        return system + [message for turn in turns[dropped:] for message in turn]

    def tokens(dropped: int) -> int:
        if dropped not in counted:
            counted[dropped] = count_tokens(kept(dropped))
        return counted[dropped]

    def fits(dropped: int) -> bool:
        return tokens(dropped) + max_new_tokens <= window

    last = len(turns) - 1  # dropping more would drop the newest turn
    if fits(0):
        return ChatPrompt(kept(0), 0)
    if not fits(last):
        if tokens(last) < window:
            return ChatPrompt(kept(last), last)
        raise ModelError(
            "prompt_too_long",
            "The prompt ({tokens} tokens) fills this model's window of {window} tokens; shorten it.",
            tokens=tokens(last),
            window=window,
        )
    low, high = 1, last  # fits(high); not fits(low - 1)
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return ChatPrompt(kept(high), high)


def prepare(
    model: Model, messages: list[Message], max_new_tokens: int, count_tokens: ConversationCounter | None = None
) -> ChatPrompt:
    """The conversation cut to this model's window."""
    return fit_window(messages, count_tokens or model.count_chat_tokens, model.token_limit, max_new_tokens)


def reply_tokens(model: Model, text: str) -> int:
    """How many tokens a reply is, as the model's tokenizer reads it."""
    return model.count_tokens(text)


# --- conversations kept in the browser --------------------------------------------------------------


@dataclass(frozen=True)
class SavedConversation:
    """A conversation as the browser keeps it: its branches, what the reader liked, and the system prompt."""

    id: str
    title: str
    system_prompt: str
    tree: Conversation

    @property
    def messages(self) -> list[Message]:
        """The branch shown."""
        return conversations.messages(self.tree)

    @classmethod
    def new(cls) -> SavedConversation:
        return cls(id=secrets.token_hex(8), title="", system_prompt="", tree=Conversation())

    @classmethod
    def from_dict(cls, data: dict) -> SavedConversation:
        """Read defensively; a conversation saved before branches (a plain list of messages) becomes one branch."""
        tree = data.get("tree")
        return cls(
            id=str(data.get("id") or secrets.token_hex(8)),
            title=str(data.get("title") or ""),
            system_prompt=str(data.get("system_prompt") or ""),
            tree=conversations.from_dict(tree)
            if tree is not None
            else conversations.from_messages(plain_history(data.get("messages"))),
        )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "system_prompt": self.system_prompt,
            "tree": conversations.as_dict(self.tree),
        }


def title_for(messages: list[Message]) -> str:
    """The first user message, shortened: how people recognise a conversation in a list."""
    first = next((message["content"] for message in messages if message["role"] == "user"), "")
    first = " ".join(first.split())
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"


def saved_list(stored: Any) -> list[SavedConversation]:
    """What the browser keeps, read defensively: it may be empty, old or edited by hand."""
    items = stored.get("conversations", []) if isinstance(stored, dict) else []
    return [SavedConversation.from_dict(item) for item in items if isinstance(item, dict)]


def store(stored: Any, current: SavedConversation) -> dict:
    """The browser's copy with `current` saved first (newest first); empty conversations are not kept."""
    others = [item for item in saved_list(stored) if item.id != current.id]
    kept = ([current] if current.messages else []) + others
    return {"current": current.id, "conversations": [item.as_dict() for item in kept[:MAX_SAVED]]}


def current_of(stored: Any) -> SavedConversation:
    """The conversation that was open when the page was left, or a fresh one."""
    wanted = stored.get("current") if isinstance(stored, dict) else None
    return next((item for item in saved_list(stored) if item.id == wanted), SavedConversation.new())


# --- export -----------------------------------------------------------------------------------------


def as_json(saved: SavedConversation, model: str) -> str:
    """The branch shown as chat messages, and the whole tree: every alternative and what the reader liked."""
    shown = ([{"role": "system", "content": saved.system_prompt}] if saved.system_prompt else []) + saved.messages
    data = {"title": saved.title, "model": model, "messages": shown, "tree": conversations.as_dict(saved.tree)}
    return json.dumps(data, ensure_ascii=False, indent=2)


def as_markdown(saved: SavedConversation, model: str, names: dict[str, str]) -> str:
    """Readable Markdown; `names` gives the heading of each role in the reader's language."""
    lines = [f"# {saved.title or model}", "", f"*{model}*", ""]
    if saved.system_prompt:
        lines += [f"**{names['system']}:** {saved.system_prompt}", ""]
    for message in saved.messages:
        lines += [f"### {names[message['role']]}", "", message["content"], ""]
    return "\n".join(lines)
