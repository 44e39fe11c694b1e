"""Arena tab: two models drawn at random answer one prompt without their names; the vote reveals them and
feeds a leaderboard kept in SQLite."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pandas as pd

from ..arena import OUTCOMES, SIDES, Arena, Standings, leaderboard_rows, write_csv
from ..inputs import clean_text
from ..limits import SlidingWindowLimit
from ..models import Model
from ..preferences import LEFT_OUT, SOURCES, collect, write_jsonl
from ..registry import Registry
from ..settings import Settings
from ..tasks.chat import reply_tokens
from ..tasks.compare import ModelProgress, TokenCounter, side_by_side
from ..tasks.generation import GenerationSettings, stream
from .common import (
    ResultTable,
    bind,
    download_folder,
    error_message,
    load_picked,
    result_table,
    say,
    user_errors,
    visitor,
)
from .generation_tab import GENERATION_CONCURRENCY
from .i18n import t

TEXT = {
    "arena.tab": ("Arena", "盲测擂台"),
    "arena.intro": (
        "Two models drawn at random answer your prompt. Their names stay hidden until you vote.",
        "随机抽取两个模型回答你的提示词。投票之前不会显示模型名称。",
    ),
    "arena.prompt": ("Prompt", "提示词"),
    "arena.start": ("Start a blind battle", "开始盲测"),
    "arena.left": ("Model A", "模型 A"),
    "arena.right": ("Model B", "模型 B"),
    "arena.outcome": ("Which answer is better?", "哪个回答更好？"),
    "arena.vote_left": ("A is better", "A 更好"),
    "arena.vote_right": ("B is better", "B 更好"),
    "arena.vote_tie": ("Tie", "平局"),
    "arena.vote_both_bad": ("Both are bad", "都不好"),
    "arena.vote": ("Vote", "投票"),
    "arena.revealed": (
        "**Model A** was `{left}`, **model B** was `{right}`. Thank you, your vote is counted.",
        "**模型 A** 是 `{left}`，**模型 B** 是 `{right}`。谢谢，你的投票已记录。",
    ),
    "arena.no_answer": (
        "⚠ This model could not answer. Why comes with the names, after your vote.",
        "⚠ 该模型未能作答。原因会在你投票后随模型名称一起显示。",
    ),
    "arena.finished": ("✓ Finished", "✓ 已完成"),
    "arena.figures": (
        "First token {first} s · {tokens} tokens · {speed} tokens/s",
        "首个词元 {first} 秒 · {tokens} 个词元 · 每秒 {speed} 个词元",
    ),
    "arena.leaderboard": (
        "Leaderboard (Bradley-Terry rating, 95% interval from 200 resamplings of the votes)",
        "排行榜（Bradley-Terry 评分，95% 区间来自对投票的 200 次重抽样）",
    ),
    "arena.refresh": ("Refresh leaderboard", "刷新排行榜"),
    "arena.csv": ("Leaderboard as CSV", "排行榜 CSV"),
    "arena.col_rank": ("Rank", "排名"),
    "arena.col_model": ("Model", "模型"),
    "arena.col_rating": ("Rating", "评分"),
    "arena.col_interval": ("95% interval", "95% 区间"),
    "arena.col_votes": ("Votes", "票数"),
    "arena.col_wins": ("Wins", "胜"),
    "arena.col_ties": ("Ties", "平"),
    "arena.prompt_hint": ("Enter starts the battle · Shift+Enter starts a new line", "回车开始盲测 · Shift+回车换行"),
    "arena.prefs_button": ("Export preference pairs", "导出偏好数据"),
    "arena.prefs": (
        "Preference pairs for training (JSON Lines for TRL's DPOTrainer)",
        "用于训练的偏好数据（TRL DPOTrainer 可读的 JSON Lines）",
    ),
    "arena.prefs_summary": (
        "{pairs} pairs: {arena} from arena votes, {chat} from chat ratings. Left out: {tie} ties, {both_bad} "
        "“both bad”, {review} votes from reviews (no answers kept), {no_answers} battles where a side did not finish, "
        "{no_text} chat ratings kept without text, {unpaired} chat ratings with no opposite answer.",
        "{pairs} 对偏好数据：{arena} 对来自盲测投票，{chat} 对来自对话评价。"
        "未导出：{tie} 票平局、{both_bad} 票“都不好”、{review} 票来自评测复核（未保存回答）、"
        "{no_answers} 场有一方未答完的盲测、{no_text} 条未保存文本的对话评价、"
        "{unpaired} 条没有对立回答的对话评价。",
    ),
}
ERRORS_ZH = {
    "too_few_models": "盲测至少需要两个模型；本部署列出了 {count} 个。",
    "bad_outcome": "未知的投票“{outcome}”；可选：{known}。",
    "unknown_battle": "这场盲测不存在。请开始新的盲测再投票。",
    "already_voted": "这场盲测已经投过票了。请开始新的盲测。",
    "arena_battles_limited": "盲测开得太频繁了：每位访客每 {seconds} 秒最多 {limit} 场。请在 {wait} 秒后再试。",
    "arena_votes_limited": "投票太频繁了：每位访客每 {seconds} 秒最多 {limit} 票。请在 {wait} 秒后再试。",
    "no_preferences_db": "还没有投票或评价：{path} 不存在（LLM_DEMO_DB）。",
}
HIDDEN_BATTLES = 2048  # battles whose figures wait for their vote; the oldest are forgotten beyond this
HEADERS = (
    "arena.col_rank",
    "arena.col_model",
    "arena.col_rating",
    "arena.col_interval",
    "arena.col_votes",
    "arena.col_wins",
    "arena.col_ties",
)


class ArenaState:
    """What the tab keeps between requests: the votes, each visitor's limits, every battle's figures and errors
    until its vote (they would tell the models apart), and the leaderboard file of the latest votes."""

    def __init__(self, settings: Settings) -> None:
        self.arena = Arena(settings.db_path)
        window = settings.arena_window_seconds
        self.battles = SlidingWindowLimit(
            settings.arena_battles,
            window,
            "arena_battles_limited",
            "Too many battles: at most {limit} every {seconds} s for one visitor. Try again in {wait} s.",
        )
        self.votes = SlidingWindowLimit(
            settings.arena_votes,
            window,
            "arena_votes_limited",
            "Too many votes: at most {limit} every {seconds} s for one visitor. Try again in {wait} s.",
        )
        self._hidden: OrderedDict[str, list[ModelProgress]] = OrderedDict()
        self._files: dict[tuple, Path] = {}
        self._lock = threading.Lock()

    def hide(self, battle_id: str, sides: list[ModelProgress]) -> None:
        with self._lock:
            self._hidden[battle_id] = [replace(side, text="") for side in sides]
            self._hidden.move_to_end(battle_id)
            while len(self._hidden) > HIDDEN_BATTLES:
                self._hidden.popitem(last=False)

    def reveal(self, battle_id: str) -> list[ModelProgress]:
        with self._lock:
            return self._hidden.pop(battle_id, None) or [ModelProgress(), ModelProgress()]

    def csv_file(self, standings: Standings, headers: list[str]) -> Path:
        """The leaderboard as CSV with these headers, written once per change of the votes, not per request."""
        key = (standings.version, tuple(headers))
        with self._lock:
            found = self._files.get(key)
            if found is None or not found.is_file():
                self._files = {known: path for known, path in self._files.items() if known[0] == standings.version}
                found = self._files[key] = write_csv(standings.rows, download_folder() / "leaderboard.csv", headers)
            return found


def _hidden_text(progress: ModelProgress, request: gr.Request | None) -> str:
    """An answer, or that this side failed, without the reason: a window size or a name would give it away."""
    return say("arena.no_answer", request) if progress.error is not None else progress.text


def _finished(progress: ModelProgress, request: gr.Request | None) -> str:
    return say("arena.finished", request) if progress.done and progress.error is None else ""


def _revealed(progress: ModelProgress, request: gr.Request | None) -> str:
    """After the vote: a side's speed, or exactly why it failed."""
    if progress.error is not None:
        return f"⚠ {error_message(progress.error, request)}"
    if not progress.done:
        return ""
    speed = progress.tokens_per_second
    return say(
        "arena.figures",
        request,
        first=f"{progress.first_token_s or progress.seconds:.2f}",
        tokens=progress.tokens,
        speed="–" if speed is None else f"{speed:.1f}",
    )


def _load_hidden(registry: Registry, name: str) -> Model | Exception:
    try:
        return load_picked(registry, "generation", name, show_loading=False)  # progress would name them
    except Exception as error:  # noqa: BLE001 - shown as that side's failure, named only after the vote
        return error


def _answer(loaded: Model | Exception, prompt: str, settings: GenerationSettings) -> Callable[[], Iterator[str]]:
    def failed() -> Iterator[str]:
        raise loaded

    return failed if isinstance(loaded, Exception) else lambda: stream(loaded, prompt, settings)


def _counter(loaded: Model | Exception) -> TokenCounter | None:
    return None if isinstance(loaded, Exception) else lambda reply: reply_tokens(loaded, reply)


def _keep_finished(arena: Arena, battle_id: str, sides: list[ModelProgress], kept: set[str]) -> None:
    """Store each side's answer once it is finished (not a failure), so that the vote makes a preference pair."""
    for side, progress in zip(SIDES, sides):
        if progress.done and progress.error is None and side not in kept:
            arena.answered(battle_id, side, progress.text)
            kept.add(side)


@user_errors
def start_battle(
    registry: Registry, state: ArenaState, prompt: str, max_new_tokens: float, request: gr.Request
) -> Iterator[tuple[str, str, str, str, str, str]]:
    """Draw two models and stream both answers; the browser gets the battle id, never the names, and nothing
    that tells the models apart (figures and the reasons for a failure wait for the vote)."""
    prompt = clean_text(prompt, "prompt")
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens)).checked()
    state.battles.take(*visitor(request))
    battle = state.arena.start(registry.choices("generation"), prompt)
    models = [_load_hidden(registry, name) for name in (battle.left, battle.right)]
    kept: set[str] = set()
    for sides in side_by_side(
        [_answer(loaded, prompt, settings) for loaded in models], [_counter(loaded) for loaded in models]
    ):
        state.hide(battle.id, sides)
        _keep_finished(state.arena, battle.id, sides, kept)
        yield (
            battle.id,
            *(_hidden_text(side, request) for side in sides),
            *(_finished(side, request) for side in sides),
            "",
        )


@user_errors
def standings(state: ArenaState, request: gr.Request) -> tuple[pd.DataFrame, str]:
    """The leaderboard table in the reader's language, and the same as a CSV file; both from the fit of the
    latest votes, made once however many ask."""
    headers = [say(key, request) for key in HEADERS]
    board = state.arena.standings()
    table = pd.DataFrame(leaderboard_rows(board.rows), columns=headers)
    return table, str(state.csv_file(board, headers))


@user_errors
def vote(
    state: ArenaState, battle_id: str, outcome: str, request: gr.Request
) -> tuple[str, str, str, pd.DataFrame, str]:
    """Count the battle's one vote, reveal the two models with their figures, and show the updated leaderboard."""
    state.votes.take(*visitor(request))
    battle = state.arena.vote((battle_id or "").strip(), outcome)
    sides = state.reveal(battle.id)
    return (
        say("arena.revealed", request, left=battle.left, right=battle.right),
        *(_revealed(side, request) for side in sides),
        *standings(state, request),
    )


@user_errors
def preference_pairs(state: ArenaState, request: gr.Request) -> tuple[str, str]:
    """Every decisive vote and every liked/disliked pair of chat answers as JSON Lines for DPO training, and what
    was left out and why."""
    export = collect(state.arena.path)
    path = write_jsonl(export.pairs, download_folder() / "preferences.jsonl")
    counts = {reason: export.skipped[reason] for reason in LEFT_OUT}
    sources = {source: export.exported[source] for source in SOURCES}
    return str(path), say("arena.prefs_summary", request, pairs=len(export.pairs), **sources, **counts)


def _preferences_download(state: ArenaState) -> None:
    with gr.Row():
        button = gr.Button(t("arena.prefs_button"), size="sm")
        pairs = gr.File(label=t("arena.prefs"), interactive=False, elem_id="arena-preferences-file")
    summary = gr.Markdown(elem_id="arena-preferences")
    button.click(bind(preference_pairs, state), None, [pairs, summary], api_visibility="private")


def build(registry: Registry) -> list[ResultTable]:
    state = ArenaState(registry.settings)
    with gr.Tab(t("arena.tab"), id="arena", elem_id="tab-arena"):
        gr.Markdown(t("arena.intro"))
        prompt = gr.Textbox(  # one line that grows: Enter starts the battle, Shift+Enter breaks the line
            label=t("arena.prompt"), placeholder=t("arena.prompt_hint"), lines=1, max_lines=10, elem_id="arena-prompt"
        )
        with gr.Row():
            max_new_tokens = gr.Slider(1, 1024, value=128, step=1, label=t("generation.max_new_tokens"))
            start = gr.Button(t("arena.start"), variant="primary")
        battle_id = gr.Textbox(visible=False)
        with gr.Row(equal_height=True):
            with gr.Column():
                left = gr.Textbox(label=t("arena.left"), lines=10, elem_id="arena-left")
                left_figures = gr.Markdown()
            with gr.Column():
                right = gr.Textbox(label=t("arena.right"), lines=10, elem_id="arena-right")
                right_figures = gr.Markdown()
        with gr.Row():
            outcome = gr.Radio(
                [(t(f"arena.vote_{name}"), name) for name in OUTCOMES], value=None, label=t("arena.outcome")
            )
            vote_button = gr.Button(t("arena.vote"), variant="primary")
        revealed = gr.Markdown(elem_id="arena-revealed")
        table = result_table("arena.leaderboard", HEADERS)
        with gr.Row():
            refresh = gr.Button(t("arena.refresh"), size="sm")
            csv_file = gr.File(label=t("arena.csv"), interactive=False)
        if not registry.settings.public:  # the file holds every visitor's prompts: for the people who run the app
            _preferences_download(state)
    for trigger, visibility in ((start.click, {"api_name": "battle"}), (prompt.submit, {"api_visibility": "private"})):
        trigger(
            bind(start_battle, registry, state),
            [prompt, max_new_tokens],
            [battle_id, left, right, left_figures, right_figures, revealed],
            concurrency_limit=GENERATION_CONCURRENCY,
            concurrency_id="generation",
            **visibility,
        )
    vote_button.click(
        bind(vote, state),
        [battle_id, outcome],
        [revealed, left_figures, right_figures, table.component, csv_file],
        api_name="vote",
    )
    refresh.click(bind(standings, state), None, [table.component, csv_file], api_name="leaderboard")
    return [table]
