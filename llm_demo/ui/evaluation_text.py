"""The evaluation tab's strings in English and Simplified Chinese, and Chinese for the errors its backend raises
(reading files, running an evaluation); the report's own strings come with it."""

from __future__ import annotations

from ..evaluation import html_report, report

TEXT = {
    "evaluation.tab": ("Evaluation", "评测"),
    "evaluation.intro": (
        "Measure a model on your own labelled data: upload a CSV, TSV or JSON Lines file, check "
        "the columns, pick one or more models and run.",
        "用你自己的标注数据评测模型：上传 CSV、TSV 或 JSON Lines 文件，确认各列，选择一个或多个模型并运行。",
    ),
    "evaluation.file": ("Data file (CSV, TSV or JSON Lines, UTF-8)", "数据文件（CSV、TSV 或 JSON Lines，UTF-8 编码）"),
    "evaluation.task": ("Task", "任务"),
    "evaluation.task.classification": ("Classification", "文本分类"),
    "evaluation.task.sentiment": ("Sentiment", "情感分析"),
    "evaluation.task.zero-shot": ("Zero-shot classification (the file's labels)", "零样本分类（使用文件中的标签）"),
    "evaluation.task.qa": ("Question answering", "问答"),
    "evaluation.task.translation": ("Translation", "翻译"),
    "evaluation.task.generation": ("Generation (perplexity)", "文本生成（困惑度）"),
    "evaluation.models": ("Models (several are compared side by side)", "模型（可选多个并排比较）"),
    "evaluation.preview": ("First rows of the file", "文件的前几行"),
    "evaluation.columns": ("Columns", "列"),
    "evaluation.role.text": ("Text column", "文本列"),
    "evaluation.role.label": ("Label column", "标签列"),
    "evaluation.role.question": ("Question column", "问题列"),
    "evaluation.role.context": ("Context column", "上下文列"),
    "evaluation.role.answer": (
        "Answer column (several answers: a JSON list or separated by |)",
        "答案列（多个答案：JSON 列表或用 | 分隔）",
    ),
    "evaluation.role.source": ("Source text column", "原文列"),
    "evaluation.role.reference": ("Reference translation column", "参考译文列"),
    "evaluation.run": ("Run evaluation", "开始评测"),
    "evaluation.cancel": ("Cancel (keep finished rows)", "取消（保留已完成的行）"),
    "evaluation.continue": ("Continue the stopped run", "继续已停止的评测"),
    "evaluation.summary": ("Metrics per model", "各模型指标"),
    "evaluation.per_class": ("Per class", "各类别指标"),
    "evaluation.what_if": (
        "What if? Pick a worst row or a flip above, then edit it here",
        "假如……？先在上面选一条最差的行或被扰动改变的行，再到这里修改它",
    ),
    "evaluation.swap_terms": (
        "Counterfactual fairness: swap identity terms in a copy of each row",
        "反事实公平性：在每行的副本中互换身份相关的词",
    ),
    "evaluation.bias": ("Predictions changed by swapped identity terms", "互换身份词后预测的变化"),
    "evaluation.bias_changed": ("Rows whose prediction a swap changed", "互换词后预测改变的行"),
    "evaluation.worst": ("Worst rows", "最差的行"),
    "evaluation.confusion": ("Confusion matrix", "混淆矩阵"),
    "evaluation.robustness": (
        "Robustness: also run every row through 9 perturbations (case, typos, punctuation, "
        "whitespace, Chinese punctuation width and Simplified/Traditional)",
        "稳健性：每一行再经过 9 种扰动运行一次（大小写、拼写错误、标点、空格、中文全角/半角标点与简繁转换）",
    ),
    "evaluation.robustness_cost": (
        "Robustness multiplies the model calls by about **{factor:.1f}**: the first {rows:,} "
        "rows of the file get {added:,} perturbed copies (rows a perturbation does not "
        "change are not sent again).",
        "稳健性测试使模型调用次数增加到约 **{factor:.1f}** 倍：文件前 {rows:,} 行产生 {added:,} "
        "个扰动副本（扰动未改变的行不会重复发送）。",
    ),
    "evaluation.slice_column": ("Metrics per value of this column (slices)", "按此列的取值分组计算指标（切片）"),
    "evaluation.propose_slices": (
        "Also slice by text length, digits and writing system",
        "同时按文本长度、是否含数字和书写系统切片",
    ),
    "evaluation.robustness_results": (
        "Robustness: predictions changed by each perturbation",
        "稳健性：各扰动使预测改变的情况",
    ),
    "evaluation.flips": ("Rows whose prediction a perturbation changed", "被扰动改变了预测的行"),
    "evaluation.fail_rates": ("Fail rate per perturbation", "各扰动的失败率"),
    "evaluation.slices": ("Metrics per slice", "各切片的指标"),
    "evaluation.downloads": (
        "Downloads: predictions CSV, metrics JSON and a report to share (HTML, opens offline)",
        "下载：预测结果 CSV、指标 JSON 和可分享的报告（HTML，离线可打开）",
    ),
    "evaluation.file_info": (
        "**{name}**: {columns} columns, {size:.1f} MB. Its first rows are shown below; all "
        "of it is read when the evaluation runs.",
        "**{name}**：{columns} 列，{size:.1f} MB。下方显示前几行；开始评测时才读取整个文件。",
    ),
    "evaluation.progress": (
        "{model}: {done:,} of {total:,} rows · {rate:.1f} rows/s · {eta} left",
        "{model}：已完成 {done:,} / {total:,} 行 · 每秒 {rate:.1f} 行 · 剩余 {eta}",
    ),
    "evaluation.status_done": ("Finished: {rows:,} rows, {models} model(s).", "已完成：{rows:,} 行，{models} 个模型。"),
    "evaluation.status_partial": (
        "Partial results so far: {done:,} of {total:,} rows. Cancel to stop here and keep them.",
        "目前的部分结果：已完成 {done:,} / {total:,} 行。点击取消可在此停止并保留这些结果。",
    ),
    "evaluation.status_incomplete": (
        "{model}: {status}, {done:,} of {total:,} rows finished. {error} The downloads "
        "mark the other rows as not_finished or skipped.",
        "{model}：{status}，完成了 {done:,} / {total:,} 行。{error} 下载文件中其余行标记为 "
        "not_finished（未完成）或 skipped（已跳过）。",
    ),
    "evaluation.status_skipped": ("{rows:,} rows skipped for an empty cell.", "{rows:,} 行因单元格为空而被跳过。"),
    "evaluation.status_unknown": (
        "{model} does not know these labels, so their rows are left out of the metrics: {labels}.",
        "{model} 不认识这些标签，相应的行未计入指标：{labels}。",
    ),
}
TEXT.update(report.TEXT)
TEXT.update(html_report.TEXT)
ERRORS_ZH = {
    "empty_file": "“{name}”是空文件。",
    "undecodable_file": "“{name}”不是 UTF-8 文本（第 {position} 个字节无法读取）。"
    "请另存为 UTF-8（如 Excel 的“CSV UTF-8”）后重新上传。",
    "not_a_table": "“{name}”在第 {line} 行附近无法作为表格读取：{reason}。",
    "no_rows": "“{name}”只有表头，没有数据行。",
    "too_many_rows": "“{name}”有 {rows:,} 行；本部署最多评测 {limit:,} 行。请上传部分样本。",
    "too_many_columns": "“{name}”有 {columns:,} 列；本部署最多读取 {limit:,} 列。"
    "请只保留需要的列，或调高 LLM_DEMO_MAX_COLUMNS。",
    "nested_too_deep": "“{name}”第 {line} 行的列表或对象嵌套超过 {limit} 层；请把该值展平。",
    "ragged_row": "“{name}”第 {line} 行有 {found} 个字段，但表头有 {expected} 个。请检查该行的引号。",
    "missing_column": "请选择{role}列（文件中的列：{columns}）。",
    "unknown_column": "“{name}”中没有“{column}”列（现有列：{columns}）。",
    "nothing_to_evaluate": "“{name}”中没有一行同时包含：{columns}。",
    "unknown_task": "未知任务“{task}”。可选：{tasks}。",
    "no_file": "请先上传数据文件。",
    "no_models": "请至少选择一个模型。",
    "bad_batch_size": "--batch-size 至少为 1。",
    "bad_window": "--window 至少为 1。",
    "nothing_to_resume": "“{folder}”中没有可继续的已停止评测。",
    "resume_mismatch": "“{folder}”中的评测是用不同的{what}开始的；请不加续跑选项重新开始。",
    "nothing_to_continue": "没有用这个文件和这些模型运行后停止的评测可继续；请点击“开始评测”。",
    "no_such_file": "文件“{name}”不存在。",
    "unknown_swap_family": "未知的词类“{family}”；可选：{families}。",
    "no_robustness_for_task": "稳健性评测适用于分类、问答和翻译，不适用于 {task}。",
    "nothing_to_compare": "稳健性和切片需要把预测与参考答案比较；{task} 没有参考答案。",
    "too_many_slices": "“{column}”列的不同取值超过 {limit} 个；请选择取值不超过 {limit} 个的列（如来源、语言或类别）。",
}
