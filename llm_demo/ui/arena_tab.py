"""Arena tab: two models drawn at random answer one prompt without their names; the vote reveals them and
feeds a leaderboard kept in SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr
import pandas as pd

from ..arena import OUTCOMES, Arena, leaderboard, leaderboard_rows, write_csv
from ..inputs import clean_text
from ..registry import Registry
from ..tasks.chat import reply_tokens
from ..tasks.compare import ModelProgress, side_by_side
from ..tasks.generation import GenerationSettings, stream
from .common import ResultTable, bind, download_folder, load_picked, result_table, say, user_errors
from .compare_tab import shown_text
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
}
ERRORS_ZH = {
    "too_few_models": "盲测至少需要两个模型；本部署列出了 {count} 个。",
    "bad_outcome": "未知的投票“{outcome}”；可选：{known}。",
    "unknown_battle": "这场盲测不存在。请开始新的盲测再投票。",
    "already_voted": "这场盲测已经投过票了。请开始新的盲测。",
}
HEADERS = (
    "arena.col_rank",
    "arena.col_model",
    "arena.col_rating",
    "arena.col_interval",
    "arena.col_votes",
    "arena.col_wins",
    "arena.col_ties",
)


def _figures(progress: ModelProgress, request: gr.Request | None) -> str:
    if not progress.done or progress.error is not None:
        return ""
    speed = progress.tokens_per_second
    return say(
        "arena.figures",
        request,
        first=f"{progress.first_token_s or progress.seconds:.2f}",
        tokens=progress.tokens,
        speed="–" if speed is None else f"{speed:.1f}",
    )


@user_errors
def start_battle(
    registry: Registry, arena: Arena, prompt: str, max_new_tokens: float, request: gr.Request
) -> Iterator[tuple[str, str, str, str, str, str]]:
    """Draw two models and stream both answers; the browser gets the battle id, never the names."""
    prompt = clean_text(prompt, "prompt")
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens)).checked()
    battle = arena.start(registry.choices("generation"), prompt)
    models = [
        load_picked(registry, "generation", name, show_loading=False)  # progress would name them
        for name in (battle.left, battle.right)
    ]
    for left, right in side_by_side(
        [lambda loaded=loaded: stream(loaded, prompt, settings) for loaded in models],
        [lambda reply, loaded=loaded: reply_tokens(loaded, reply) for loaded in models],
    ):
        yield (
            battle.id,
            shown_text(left, request),
            shown_text(right, request),
            _figures(left, request),
            _figures(right, request),
            "",
        )


@user_errors
def standings(arena: Arena, request: gr.Request) -> tuple[pd.DataFrame, str]:
    """The leaderboard table in the reader's language, and the same as a CSV file."""
    headers = [say(key, request) for key in HEADERS]
    rows = leaderboard(arena.votes())
    table = pd.DataFrame(leaderboard_rows(rows), columns=headers)
    return table, str(write_csv(rows, download_folder() / "leaderboard.csv", headers))


@user_errors
def vote(arena: Arena, battle_id: str, outcome: str, request: gr.Request) -> tuple[str, pd.DataFrame, str]:
    """Count the battle's one vote, reveal the two models, and show the updated leaderboard."""
    battle = arena.vote((battle_id or "").strip(), outcome)
    return (say("arena.revealed", request, left=battle.left, right=battle.right), *standings(arena, request))


def build(registry: Registry) -> list[ResultTable]:
    arena = Arena(registry.settings.db_path)
    with gr.Tab(t("arena.tab"), id="arena", elem_id="tab-arena"):
        gr.Markdown(t("arena.intro"))
        prompt = gr.Textbox(label=t("arena.prompt"), lines=3)
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
    start.click(
        bind(start_battle, registry, arena),
        [prompt, max_new_tokens],
        [battle_id, left, right, left_figures, right_figures, revealed],
        api_name="battle",
        concurrency_limit=GENERATION_CONCURRENCY,
        concurrency_id="generation",
    )
    vote_button.click(bind(vote, arena), [battle_id, outcome], [revealed, table.component, csv_file], api_name="vote")
    refresh.click(bind(standings, arena), None, [table.component, csv_file], api_name="leaderboard")
    return [table]
