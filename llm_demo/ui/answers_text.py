"""The answers tab's strings in English and Simplified Chinese, and Chinese for the errors of its backend (the
answers task, the judge, the response cache and reviews); the report's answer tables come with it."""

from __future__ import annotations

from ..evaluation import answers_report

TEXT = {
    "answers.tab": ("Answers", "回答评测"),
    "answers.intro": (
        "Evaluate generative models on your own prompts: upload a file with a prompt column (and, if you have them, "
        "reference answers, a system prompt per row and grading criteria), pick up to six models and, if you like, "
        "a judge model. Answers and verdicts are cached: run again with one more model and only its answers are "
        "generated.",
        "用你自己的提示评测生成模型：上传含提示列的文件（可选：参考答案、每行的系统提示和评分标准），最多选择六个模型，"
        "也可选择一个评审模型。答案和评审结果会被缓存：再加一个模型重新运行时，只会生成它的答案。",
    ),
    "answers.models": ("Models that answer (1-6)", "回答的模型（1-6 个）"),
    "answers.judge": ("Judge model (empty: reference metrics only)", "评审模型（留空：只计算参考指标）"),
    "answers.judge_mode": ("What the judge does", "评审方式"),
    "answers.mode.grade": ("Grade each answer 1-10", "给每个答案打 1-10 分"),
    "answers.mode.pairwise": ("Compare answers in pairs", "两两比较答案"),
    "answers.mode.both": ("Both", "两者都做"),
    "answers.role.prompt": ("Prompt column", "提示列"),
    "answers.role.reference": ("Reference answer column (optional)", "参考答案列（可选）"),
    "answers.role.system": ("System prompt column (optional)", "系统提示列（可选）"),
    "answers.role.criteria": ("Grading criteria column (optional)", "评分标准列（可选）"),
    "answers.settings": ("Generation and judge settings", "生成与评审设置"),
    "answers.max_new_tokens": ("Max new tokens per answer", "每个答案的最大新词元数"),
    "answers.temperature": ("Temperature (0: greedy, repeatable)", "温度（0：贪心解码，可复现）"),
    "answers.seed": ("Seed", "随机种子"),
    "answers.language": ("Language of the judge's prompts", "评审提示的语言"),
    "answers.instructions": (
        "Grading instructions for the judge (edit for this run)",
        "给评审模型的评分说明（可为本次运行修改）",
    ),
    "answers.use_cache": ("Reuse cached answers and verdicts", "复用已缓存的答案和评审结果"),
    "answers.run": ("Run", "开始"),
    "answers.cancel": ("Cancel (keep finished rows)", "取消（保留已完成的行）"),
    "answers.continue": ("Continue the stopped run", "继续已停止的运行"),
    "answers.summary": ("Metrics per model", "各模型指标"),
    "answers.ratings_table": ("Pairwise ratings", "两两比较评分"),
    "answers.win_rate_table": ("Win rates", "胜率"),
    "answers.disagreements": ("Rows worth reading", "值得查看的行"),
    "answers.downloads": ("Downloads", "下载"),
    "answers.review": ("Review the answers", "人工审阅答案"),
    "answers.review_intro": (
        "Go through the rows, grade each answer and pick the better of two. Reviews are kept with the run (the "
        "same file, models and settings find them again after a restart), count as arena votes, and are set "
        "against the judge.",
        "逐行审阅：给每个答案打分，并在两个答案中选出更好的一个。审阅结果随本次运行保存（相同的文件、模型和设置在重启后"
        "仍能找到），计入竞技场投票，并与评审模型的判断对比。",
    ),
    "answers.row": ("Row", "行"),
    "answers.previous": ("Previous", "上一行"),
    "answers.next": ("Next", "下一行"),
    "answers.blind": ("Blind: hide model names and shuffle the answers", "盲评：隐藏模型名称并打乱答案顺序"),
    "answers.answer_n": ("Answer {n}", "答案 {n}"),
    "answers.grade": ("Grade", "评分"),
    "answers.pick_a": ("First answer of the pair", "比较的第一个答案"),
    "answers.pick_b": ("Second answer of the pair", "比较的第二个答案"),
    "answers.pick": ("Which is better?", "哪个更好？"),
    "answers.pick.a": ("the first", "第一个"),
    "answers.pick.b": ("the second", "第二个"),
    "answers.pick.tie": ("tie", "平局"),
    "answers.comment": ("Comment", "评语"),
    "answers.reviewer": ("Your name (optional)", "你的名字（可选）"),
    "answers.save_review": ("Save review", "保存审阅"),
    "answers.no_run": (
        "Run the models first; their answers appear here to review.",
        "请先运行模型；它们的答案会显示在这里供审阅。",
    ),
    "answers.row_view": (
        "**Row {row} of {rows}**\n\n**Prompt:** {prompt}\n\n**Reference:** {reference}",
        "**第 {row} 行，共 {rows} 行**\n\n**提示：** {prompt}\n\n**参考答案：** {reference}",
    ),
    "answers.saved": (
        "Saved {count} review(s) of row {row}. {total} reviews of this run so far.",
        "已保存第 {row} 行的 {count} 条审阅。本次运行目前共有 {total} 条审阅。",
    ),
    "answers.nothing_to_save": ("Give a grade or a pick before saving.", "请先打分或做出选择再保存。"),
    "answers.status_done": ("{models} models answered {rows} prompts.", "{models} 个模型回答了 {rows} 个提示。"),
    "answers.progress": ("{model}: {done}/{total} ({eta} left)", "{model}：{done}/{total}（剩余 {eta}）"),
}
TEXT.update(answers_report.TEXT)
ERRORS_ZH = {
    "bad_judge_mode": "未知的评审方式“{mode}”；可选：{modes}。",
    "pairwise_needs_two": "两两比较答案至少需要两个模型；请再选一个。",
    "too_many_answer_models": "最多可同时评测 {limit} 个模型；你选了 {count} 个。",
    "cache_unreadable": (
        "无法使用回答缓存 {path}（{reason}）。请移走或删除该文件以重新建立缓存，或加上 --no-cache 运行。"
    ),
    "arena_same_model": "一票需要两个不同的模型；两边都是“{model}”。",
    "bad_review_grade": "评分只能是 {known} 之一；“{value}”不是。",
    "bad_review_pick": "选择只能是 {known} 之一；“{value}”不是。",
    "bad_review_models": "比较需要两个不同的模型；两个回答都来自“{model}”。",
    "bad_review_comment": "评语最多 {limit} 个字符；这条有 {length} 个。",
    "bad_review_reviewer": "评审人姓名最多 {limit} 个字符；这个有 {length} 个。",
    "bad_review_row": "“{row}”不是数据中的行；行号从 0 开始。",
    "judge_failed": "{reason}",
}
