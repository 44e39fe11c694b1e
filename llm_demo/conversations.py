"""A conversation that keeps its branches: an edited message or a retried answer becomes an alternative beside the
old one, which the reader can step back to, and each answer keeps the reader's like or dislike.

Every message is a node under the message it follows; what the chat window shows is one path, the chosen child at
each step. No Gradio here: the chat tab shows `messages(conversation)` and calls these functions.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch comes with it: a type is not worth a second of start-up
    from .models.types import Message


ROOT = ""  # the parent of a conversation's first message
ROLES = ("user", "assistant")
FEEDBACK = ("like", "dislike")


@dataclass(frozen=True)
class Node:
    """One message; `model` names the model that wrote an answer, `feedback` is the reader's "like" or "dislike"."""

    id: str
    parent: str
    role: str
    content: str
    model: str = ""
    feedback: str = ""


@dataclass(frozen=True)
class Conversation:
    nodes: tuple[Node, ...] = ()
    chosen: dict[str, str] = field(default_factory=dict)  # parent id -> the child shown; no entry ends the path there
    focus: str = ""  # the message whose alternatives the arrows step through: the newest edit, retry or click


@dataclass(frozen=True)
class Alternatives:
    """Where the arrows stand: `node` is alternative `position` (from 1) of `count` written at that point."""

    node: Node
    position: int
    count: int


def path(conversation: Conversation) -> list[Node]:
    """The messages shown, first to last."""
    by_id = {node.id: node for node in conversation.nodes}
    shown: list[Node] = []
    at = ROOT
    while (child := conversation.chosen.get(at)) in by_id:
        shown.append(by_id[child])
        at = child
    return shown


def messages(conversation: Conversation) -> list[Message]:
    """The shown path as chat messages, which is what the model answers."""
    return as_messages(path(conversation))


def as_messages(nodes: list[Node]) -> list[Message]:
    return [{"role": node.role, "content": node.content} for node in nodes]


def from_messages(history: list[Message]) -> Conversation:
    """A conversation without branches, one message after another."""
    conversation = Conversation()
    for message in history:
        conversation, _ = add(conversation, _leaf(conversation), message["role"], message["content"])
    return replace(conversation, focus="")


def add(conversation: Conversation, parent: str, role: str, content: str, model: str = "") -> tuple[Conversation, Node]:
    """A new message under `parent`, shown from now on (its older siblings stay as alternatives)."""
    taken = {node.id for node in conversation.nodes}
    node_id = secrets.token_hex(6)
    while node_id in taken:
        node_id = secrets.token_hex(6)
    node = Node(id=node_id, parent=parent, role=role, content=content, model=model)
    chosen = {**conversation.chosen, parent: node.id}
    return Conversation(conversation.nodes + (node,), chosen, focus=node.id), node


def ask(conversation: Conversation, text: str) -> tuple[Conversation, Node]:
    """The reader's next message, after the last one shown."""
    return add(conversation, _leaf(conversation), "user", text)


def write(conversation: Conversation, node_id: str, text: str) -> Conversation:
    """A message's text replaced, as an answer streams in."""
    nodes = tuple(replace(node, content=text) if node.id == node_id else node for node in conversation.nodes)
    return replace(conversation, nodes=nodes)


def rate(conversation: Conversation, node_id: str, feedback: str) -> Conversation:
    """An answer's feedback: "like", "dislike", or "" to take it back."""
    nodes = tuple(replace(node, feedback=feedback) if node.id == node_id else node for node in conversation.nodes)
    return replace(conversation, nodes=nodes)


def last_question(conversation: Conversation) -> Node | None:
    """The last user message shown: what Retry answers again and Undo takes back."""
    return next((node for node in reversed(path(conversation)) if node.role == "user"), None)


def edit(conversation: Conversation, index: int, text: str) -> tuple[Conversation, Node]:
    """The user message at `index` of the path written again: a new version beside the old one, whose turns after it
    stay with it. Returns the new version, which the caller answers."""
    old = path(conversation)[index]
    return add(conversation, old.parent, old.role, text)


def ancestors(conversation: Conversation, node_id: str) -> list[Node]:
    """The messages a node follows, first to last, whichever branch is shown."""
    by_id = {node.id: node for node in conversation.nodes}
    chain: list[Node] = []
    node = by_id.get(node_id)
    while node is not None and node.parent in by_id:
        node = by_id[node.parent]
        chain.append(node)
    return chain[::-1]


def alternatives(conversation: Conversation, node: Node) -> list[Node]:
    """The messages written at the same point as `node` (itself included), oldest first."""
    return [other for other in conversation.nodes if other.parent == node.parent and other.role == node.role]


def stepping(conversation: Conversation) -> Alternatives | None:
    """What the arrows step through: the focused message if it is shown and has alternatives, else the deepest shown
    message that has some; None when no shown message has any."""
    shown = path(conversation)
    branched = [node for node in shown if len(alternatives(conversation, node)) > 1]
    focused = [node for node in branched if node.id == conversation.focus]
    if not branched:
        return None
    node = (focused or branched)[-1]
    siblings = alternatives(conversation, node)
    return Alternatives(node, siblings.index(node) + 1, len(siblings))


def step(conversation: Conversation, delta: int) -> Conversation:
    """Show the previous (-1) or next (+1) alternative of what the arrows step through, with the turns that followed
    it; past either end nothing changes."""
    where = stepping(conversation)
    if where is None:
        return conversation
    siblings = alternatives(conversation, where.node)
    new = siblings[min(max(where.position - 1 + delta, 0), len(siblings) - 1)]
    return replace(conversation, chosen={**conversation.chosen, new.parent: new.id}, focus=new.id)


def focus_on(conversation: Conversation, index: int) -> Conversation:
    """The arrows now step through the shown message at `index` (the one the reader clicked)."""
    shown = path(conversation)
    return replace(conversation, focus=shown[index].id) if 0 <= index < len(shown) else conversation


def undo(conversation: Conversation) -> tuple[Conversation, str]:
    """Take back the last user message shown with everything after it, and give back its text. Its other versions,
    if any, stay: they are alternatives again once a new message is sent at that point."""
    question = last_question(conversation)
    if question is None:
        return conversation, ""
    gone = {question.id}
    for node in conversation.nodes:  # children come after their parents, so one pass finds every descendant
        if node.parent in gone:
            gone.add(node.id)
    chosen = {parent: child for parent, child in conversation.chosen.items() if parent not in gone | {question.parent}}
    nodes = tuple(node for node in conversation.nodes if node.id not in gone)
    return Conversation(nodes, chosen, focus=""), question.content


def _leaf(conversation: Conversation) -> str:
    shown = path(conversation)
    return shown[-1].id if shown else ROOT


# --- kept in the browser ----------------------------------------------------------------------------------------


def as_dict(conversation: Conversation) -> dict:
    return {
        "nodes": [asdict(node) for node in conversation.nodes],
        "chosen": dict(conversation.chosen),
        "focus": conversation.focus,
    }


def from_dict(data: Any) -> Conversation:
    """What the browser kept, read defensively: a node must have a known role and follow a node read before it."""
    data = data if isinstance(data, dict) else {}
    nodes: list[Node] = []
    seen = {ROOT}
    for item in data.get("nodes") or []:
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            continue
        node = Node(
            id=str(item.get("id") or ""),
            parent=str(item.get("parent") or ROOT),
            role=item["role"],
            content=str(item.get("content") or ""),
            model=str(item.get("model") or ""),
            feedback=item.get("feedback") if item.get("feedback") in FEEDBACK else "",
        )
        if node.id and node.id not in seen and node.parent in seen:
            nodes.append(node)
            seen.add(node.id)
    chosen = data.get("chosen") if isinstance(data.get("chosen"), dict) else {}
    return Conversation(
        tuple(nodes),
        {str(parent): str(child) for parent, child in chosen.items() if parent in seen and child in seen},
        focus=str(data.get("focus") or ""),
    )
