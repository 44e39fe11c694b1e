"""Chat: the whole history through the chat template, trimmed to the window, kept and exported."""

from __future__ import annotations

import json

import pytest

from llm_demo.conversations import as_dict, from_messages
from llm_demo.errors import InputError, ModelError
from llm_demo.models.local.generate import chat_ids
from llm_demo.tasks.chat import (
    SavedConversation,
    as_json,
    as_markdown,
    conversation,
    current_of,
    fit_window,
    prepare,
    store,
    text_of,
)
from llm_demo.tasks.generation import GenerationSettings, stream_chat

CHAT = "Tiny chat GPT-2"
GREEDY = dict(max_new_tokens=6, temperature=0)


def _words(messages: list[dict]) -> int:
    """A stand-in token counter: one token per word, as an endpoint model's counter might report."""
    return sum(len(message["content"].split()) for message in messages)


def _turn(user: str, assistant: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def test_oldest_turns_are_dropped_and_the_system_prompt_kept_when_the_window_is_exceeded():
    messages = (
        [{"role": "system", "content": "s s"}]
        + _turn("a a a", "b b b")
        + _turn("c c c", "d d d")
        + [{"role": "user", "content": "e e e"}]
    )  # 17 words
    kept = fit_window(messages, _words, window=20, max_new_tokens=5)
    assert kept.dropped_turns == 1
    assert kept.messages == [messages[0], *messages[3:]]
    assert fit_window(messages, _words, window=22, max_new_tokens=5).dropped_turns == 0
    assert fit_window(messages, _words, window=10, max_new_tokens=5).messages == [messages[0], messages[-1]]


def _linear_fit(system: list[dict], turns: list[list[dict]], count_tokens, window: int, max_new_tokens: int):
    """fit_window as it was: one count per dropped turn, oldest first (the reference for the bisection)."""
    for dropped in range(len(turns)):
        kept = system + [message for turn in turns[dropped:] for message in turn]
        tokens = count_tokens(kept)
        if tokens + max_new_tokens <= window:
            return kept, dropped
    if tokens < window:
        return kept, len(turns) - 1
    return None  # refused: the newest turn alone fills the window


def test_trimming_a_long_history_needs_logarithmically_many_counts_and_finds_what_the_linear_search_found():
    system = [{"role": "system", "content": "s " * 7}]
    turns = [_turn("u " * (1 + turn % 7), "a " * (1 + turn % 5)) for turn in range(1_000)]
    turns.append([{"role": "user", "content": "last " * 9}])
    messages = system + [message for turn in turns for message in turn]
    total = _words(messages)
    for window in (total + 50, total, total - 1, total // 2, 1_000, 100, 40, 30, 17, 16, 10):
        calls: list[int] = []

        def counting(kept, calls=calls):
            calls.append(len(kept))
            return _words(kept)

        try:
            prompt = fit_window(messages, counting, window, max_new_tokens=20)
            found = (prompt.messages, prompt.dropped_turns)
        except ModelError:
            found = None
        assert found == _linear_fit(system, turns, _words, window, 20), window
        assert len(calls) <= 2 + 10, window  # the first, the last, and log2(1,000) bisection steps


def test_a_history_over_its_caps_is_refused_naming_the_limit_and_its_variable(monkeypatch):
    with pytest.raises(InputError) as raised:
        conversation(_turn("q", "a") * 201, "", "hi")
    assert raised.value.key == "chat_too_many_turns" and raised.value.params == {"turns": 201, "limit": 200}
    assert "the limit is 200 (LLM_DEMO_MAX_CHAT_TURNS)" in str(raised.value)
    assert len(conversation(_turn("q", "a") * 200, "", "hi")) == 401
    with pytest.raises(InputError) as raised:
        conversation(_turn("q" * 100_000, "a" * 100_001), "", "hi")
    assert raised.value.key == "chat_too_long" and raised.value.params == {"length": 200_001, "limit": 200_000}
    assert "(LLM_DEMO_MAX_CHAT_CHARS)" in str(raised.value)
    monkeypatch.setenv("LLM_DEMO_MAX_CHAT_TURNS", "2")
    with pytest.raises(InputError, match="has 3 earlier turns; the limit is 2"):
        conversation(_turn("q", "a") * 3, "", "hi")


def test_a_system_prompt_longer_than_a_text_box_is_refused():
    with pytest.raises(InputError) as raised:
        conversation([], "s" * 20_001, "hi")
    assert raised.value.key == "text_too_long" and raised.value.params["what"] == "system prompt"
    assert conversation([], "  be brief  ", "hi")[0] == {"role": "system", "content": "be brief"}


def test_a_last_message_too_long_for_the_window_is_refused_with_its_size():
    with pytest.raises(ModelError) as caught:
        fit_window([{"role": "user", "content": "w " * 30}], _words, window=20, max_new_tokens=5)
    assert caught.value.key == "prompt_too_long" and caught.value.params == {"tokens": 30, "window": 20}


def test_a_last_message_that_leaves_less_room_than_asked_is_kept_for_a_shorter_reply():
    messages = _turn("a a a", "b b b") + [{"role": "user", "content": "w " * 18}]
    kept = fit_window(messages, _words, window=20, max_new_tokens=5)
    assert kept.messages == [messages[-1]] and kept.dropped_turns == 1


def test_prepare_counts_with_the_model_chat_template(load):
    loaded = load("generation", CHAT, "causal-lm")
    long = "The quick brown fox jumps over the lazy dog. " * 3
    messages = conversation(_turn(long, long) * 2, "Be brief.", "hi")
    prompt = prepare(loaded, messages, max_new_tokens=40)
    assert prompt.dropped_turns == 2 and prompt.messages == [messages[0], messages[-1]]
    assert (
        len(chat_ids(loaded, prompt.messages)) + 40
        <= loaded.token_limit
        < len(chat_ids(loaded, messages[:3] + messages[-1:])) + 40
    )


def test_saved_conversations_keep_the_open_one_first_and_bring_it_back():
    first = SavedConversation(id="a", title="one", system_prompt="", tree=from_messages(_turn("one", "1")))
    second = SavedConversation(id="b", title="two", system_prompt="Be brief.", tree=from_messages(_turn("two", "2")))
    stored = store(store({}, first), second)
    assert [item["id"] for item in stored["conversations"]] == ["b", "a"] and stored["current"] == "b"
    assert current_of({**stored, "current": "a"}) == first
    assert current_of(None).messages == [] and current_of({"current": "gone", "conversations": "junk"}).messages == []


def test_export_writes_the_conversation_as_json_and_markdown():
    saved = SavedConversation(
        id="x", title="hello", system_prompt="Be brief.", tree=from_messages(_turn("hello", "hi!"))
    )
    data = json.loads(as_json(saved, "tiny"))
    assert data.pop("tree") == as_dict(saved.tree)  # every branch, for tools
    assert data == {
        "title": "hello",
        "model": "tiny",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi!"},
        ],
    }
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    assert as_markdown(saved, "tiny", names) == (
        "# hello\n\n*tiny*\n\n**System:** Be brief.\n\n### User\n\nhello\n\n### Assistant\n\nhi!\n"
    )


@pytest.fixture
def received(monkeypatch):
    """The conversations the chat tab hands to the model, recorded on their way to stream_chat."""
    from llm_demo.ui import chat_branches

    seen: list[list[dict]] = []

    def recording(loaded, messages, settings):
        seen.append(messages)
        return stream_chat(loaded, messages, settings)

    monkeypatch.setattr(chat_branches, "stream_chat", recording)
    return seen


def _reply(history: list[dict]) -> str:
    return text_of(history[-1]["content"])


def test_three_turn_chat_sends_the_whole_history_through_the_chat_template(client, load, received):
    loaded = load("generation", CHAT, "causal-lm")
    history: list[dict] = []
    for message in ("hello", "how are you?", "tell me more"):
        history, box, note, status = client.predict(
            message, history, "Be brief.", CHAT, *GREEDY.values(), api_name="/chat"
        )
        assert box == "" and note == "" and "cpu" in status
    replies = [text_of(message["content"]) for message in history if message["role"] == "assistant"]
    expected = [
        {"role": "system", "content": "Be brief."},
        *_turn("hello", replies[0]),
        *_turn("how are you?", replies[1]),
        {"role": "user", "content": "tell me more"},
    ]
    assert received[-1] == expected
    prompt = loaded.tokenizer.decode(chat_ids(loaded, received[-1]))
    assert prompt == (
        f"<s>system: Be brief.</s><s>user: hello</s><s>assistant: {replies[0]}</s>"
        f"<s>user: how are you?</s><s>assistant: {replies[1]}</s><s>user: tell me more</s><s>assistant:"
    )
    greedy = GenerationSettings(max_new_tokens=6, temperature=0)
    assert replies[2] == list(stream_chat(loaded, expected, greedy))[-1]


def test_chat_over_the_window_drops_old_turns_and_says_so(client, load, received):
    long = "The quick brown fox jumps over the lazy dog. " * 3
    history = [{**message, "content": [{"type": "text", "text": long}]} for message in _turn(long, long) * 2]
    reply, _, note, _ = client.predict("hi", history, "Be brief.", CHAT, 40, 0, api_name="/chat")
    assert received[-1] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert (
        note == "2 oldest turn(s) left out: with them the conversation would not fit the model's window of 128 tokens."
    )
    assert [text_of(message["content"]) for message in reply[:4]] == [long] * 4


def test_chat_with_a_base_model_is_refused_with_a_message(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="has no chat template"):
        client.predict("hello", [], "", "Tiny GPT-2", 4, 0, api_name="/chat")
