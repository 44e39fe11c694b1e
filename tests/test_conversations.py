"""A conversation with branches: edits and retries kept as alternatives, stepped through, undone, and read back."""

from __future__ import annotations

from llm_demo import conversations as c
from llm_demo.feedback import PASSED_OVER, ratings
from llm_demo.tasks.chat import SavedConversation


def _chat(*turns: tuple[str, str]) -> c.Conversation:
    """Turns of (question, answer), one after another."""
    tree = c.Conversation()
    for question, answer in turns:
        tree, asked = c.ask(tree, question)
        tree, _ = c.add(tree, asked.id, "assistant", answer, model="tiny")
    return tree


def _shown(tree: c.Conversation) -> list[str]:
    return [message["content"] for message in c.messages(tree)]


def test_retry_keeps_every_answer_and_the_arrows_step_between_them():
    tree = _chat(("hi", "a1"))
    question = c.last_question(tree)
    for answer in ("a2", "a3"):
        tree, _ = c.add(tree, question.id, "assistant", answer)
    assert _shown(tree) == ["hi", "a3"]
    where = c.stepping(tree)
    assert (where.node.content, where.position, where.count) == ("a3", 3, 3)
    tree = c.step(tree, -1)
    assert _shown(tree) == ["hi", "a2"] and c.stepping(tree).position == 2
    assert _shown(c.step(c.step(tree, -1), -1)) == ["hi", "a1"]  # past the first, it stays there
    assert _shown(c.step(c.step(tree, +1), +1)) == ["hi", "a3"]


def test_an_edit_replaces_the_turns_after_it_and_the_old_branch_comes_back_whole():
    tree = _chat(("one", "1"), ("two", "2"), ("three", "3"))
    tree, edited = c.edit(tree, 2, "TWO")
    tree, _ = c.add(tree, edited.id, "assistant", "II")
    assert _shown(tree) == ["one", "1", "TWO", "II"]
    where = c.stepping(tree)
    assert (where.node.content, where.position, where.count) == ("TWO", 2, 2)
    tree = c.step(tree, -1)
    assert _shown(tree) == ["one", "1", "two", "2", "three", "3"]
    assert c.stepping(tree).node.content == "two"  # the arrows stay on the message that was edited
    assert _shown(c.step(tree, +1)) == ["one", "1", "TWO", "II"]


def test_arrows_step_through_the_clicked_message_and_otherwise_the_deepest_with_alternatives():
    tree = _chat(("one", "1"), ("two", "2"))
    tree, edited = c.edit(tree, 0, "ONE")
    tree, _ = c.add(tree, edited.id, "assistant", "I")
    tree, _ = c.add(tree, edited.id, "assistant", "I again")  # a retry below the edit
    assert c.stepping(tree).node.content == "I again"
    tree = c.focus_on(tree, 0)
    assert c.stepping(tree).node.content == "ONE"
    assert _shown(c.step(tree, -1)) == ["one", "1", "two", "2"]
    assert c.stepping(_chat(("one", "1"))) is None


def test_undo_takes_back_the_last_question_with_its_answers():
    tree = _chat(("one", "1"), ("two", "2"))
    tree, _ = c.add(tree, c.last_question(tree).id, "assistant", "2 again")
    tree, text = c.undo(tree)
    assert text == "two" and _shown(tree) == ["one", "1"] and len(tree.nodes) == 2
    assert c.undo(c.Conversation()) == (c.Conversation(), "")


def test_a_new_message_after_an_undone_version_is_an_alternative_to_the_versions_left():
    tree = _chat(("one", "1"))
    tree, edited = c.edit(tree, 0, "ONE")
    tree, _ = c.undo(tree)
    assert _shown(tree) == []
    tree, _ = c.ask(tree, "uno")
    assert _shown(tree) == ["uno"] and c.stepping(tree).count == 2


def test_the_tree_survives_the_browser_and_a_saved_conversation_from_before_branches_is_one_branch():
    tree = _chat(("one", "1"))
    tree, _ = c.add(tree, c.last_question(tree).id, "assistant", "1 again", model="other")
    tree = c.rate(tree, c.path(tree)[-1].id, "like")
    assert c.from_dict(c.as_dict(tree)) == tree
    old = SavedConversation.from_dict({"id": "x", "messages": [{"role": "user", "content": "hi"}]})
    assert old.messages == [{"role": "user", "content": "hi"}]
    assert SavedConversation.from_dict(old.as_dict()) == old


def test_nodes_the_browser_mangled_are_dropped_and_the_rest_still_reads():
    data = {
        "nodes": [
            {"id": "a", "parent": "", "role": "user", "content": "hi"},
            {"id": "b", "parent": "nowhere", "role": "assistant", "content": "orphan"},
            {"id": "c", "parent": "a", "role": "system", "content": "not a turn"},
            {"id": "d", "parent": "a", "role": "assistant", "content": "hello", "feedback": "love it"},
            "junk",
        ],
        "chosen": {"": "a", "a": "d", "zzz": "b"},
    }
    tree = c.from_dict(data)
    assert _shown(tree) == ["hi", "hello"] and [node.id for node in tree.nodes] == ["a", "d"]
    assert tree.nodes[1].feedback == "" and c.from_dict("junk") == c.Conversation()


def test_a_like_rates_the_other_answers_to_its_question_as_passed_over_and_keeps_text_only_when_asked():
    tree = _chat(("hi", "a1"))
    question = c.last_question(tree)
    tree, _ = c.add(tree, question.id, "assistant", "a2", model="tiny")
    liked = c.path(tree)[-1]
    tree = c.rate(tree, liked.id, "like")
    rated = ratings("conv", tree, liked.id, "Be brief.", keep_text=False)
    assert [(rating.rating, rating.text, rating.prompt) for rating in rated] == [
        (PASSED_OVER, None, None),
        ("like", None, None),
    ]
    kept = ratings("conv", tree, liked.id, "Be brief.", keep_text=True)
    assert [rating.text for rating in kept] == ["a1", "a2"]
    assert kept[0].prompt == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert ratings("conv", c.rate(tree, liked.id, ""), liked.id, "", keep_text=True) == []  # a like taken back
