"""The "What if?" tab's strings in English and Simplified Chinese."""

from __future__ import annotations

TEXT = {
    "whatif.tab": ("What if?", "假如……？"),
    "whatif.intro": (
        "Change an input and see what changes: every label's probability, or the answer, for the original and "
        "for your edited copy, the edit marked word by word. Or let the app find the smallest edits that change "
        "a classifier's label.",
        "修改输入，看看结果如何变化：原文和修改后的副本各自的每个标签概率（或答案），修改之处逐词标出。"
        "也可以让应用找出能改变分类器标签的最小修改。",
    ),
    "whatif.carry": ("What if? Edit this input", "假如……？修改这条输入"),
    "whatif.classify_view": ("Classification", "文本分类"),
    "whatif.original": ("Original text", "原文"),
    "whatif.edited": ("Edited copy: change some words", "修改后的副本：改几个词试试"),
    "whatif.compare": ("Compare", "比较"),
    "whatif.diff": ("What the edit changed", "修改了什么"),
    "whatif.scores": ("Each label's probability", "每个标签的概率"),
    "whatif.label": ("Label", "标签"),
    "whatif.before": ("Original", "原文"),
    "whatif.after": ("Edited", "修改后"),
    "whatif.change": ("Change", "变化"),
    "whatif.flipped": (
        "The label changes from **{before}** ({before_score:.3f}) to **{after}** ({after_score:.3f}).",
        "标签从 **{before}**（{before_score:.3f}）变为 **{after}**（{after_score:.3f}）。",
    ),
    "whatif.kept": (
        "The label stays **{label}**: {before_score:.3f} → {after_score:.3f}.",
        "标签仍为 **{label}**：{before_score:.3f} → {after_score:.3f}。",
    ),
    "whatif.history": ("This visit's edits", "本次访问的修改记录"),
    "whatif.history_table": ("Edits, the latest last", "修改记录（最新的在最后）"),
    "whatif.edit_number": ("Edit", "修改"),
    "whatif.edit_text": ("Edited copy", "修改后的副本"),
    "whatif.result": ("Result", "结果"),
    "whatif.back": ("Step back to the edit before", "退回上一次修改"),
    "whatif.counterfactuals": ("Edits that flip the label", "能改变标签的修改"),
    "whatif.counterfactuals_about": (
        "Edits of the original text that change the model's label, each checked by classifying it again. "
        "*Removing words*: the fewest words whose removal flips the label (LIT's Ablation Flip). *Replacing a "
        "word*: one word swapped for a vocabulary word that the gradient toward another label proposes "
        "(HotFlip). Replacing needs the weights in this process: a model on a server gets removals only. Click "
        "a row to edit it further.",
        "对原文的修改，若能改变模型给出的标签，并且重新分类后确认如此，就列在这里。*删除词语*：删去最少的词"
        "使标签改变（LIT 的 Ablation Flip）。*替换一个词*：按指向另一个标签的梯度，把一个词换成词表中的另一个"
        "词（HotFlip）。替换需要模型权重在本进程中：服务器上的模型只做删除。点击一行可继续修改。",
    ),
    "whatif.find": ("Find edits that flip the label", "寻找能改变标签的修改"),
    "whatif.max_calls": ("Model calls at most", "模型调用次数上限"),
    "whatif.flips": ("Verified flips", "已确认的标签翻转"),
    "whatif.kind": ("Edit", "修改方式"),
    "whatif.flip_text": ("Edited text", "修改后的文本"),
    "whatif.changed": ("Changed", "改动"),
    "whatif.new_label": ("New label", "新标签"),
    "whatif.probability": ("Probability", "概率"),
    "whatif.ablation": ("removed words", "删除词语"),
    "whatif.substitution": ("replaced a word", "替换一个词"),
    "whatif.found": (
        "{count} edits flip **{label}**, each verified; {calls} texts classified.",
        "{count} 处修改能翻转 **{label}**，均已确认；共分类 {calls} 条文本。",
    ),
    "whatif.none_found": (
        "No edit tried flips **{label}** ({calls} texts classified).",
        "尝试过的修改都没能翻转 **{label}**（共分类 {calls} 条文本）。",
    ),
    "whatif.needs_weights": (
        "Replacing words needs the model's gradients, which a model on a server does not give: removals only.",
        "替换词语需要模型的梯度，而服务器上的模型不提供梯度：只做删除。",
    ),
    "whatif.zero_shot": (
        "Replacing words follows a fixed-label classifier's gradient: a zero-shot model gets removals only.",
        "替换词语依据固定标签分类器的梯度：零样本模型只做删除。",
    ),
    "whatif.qa_view": ("Question answering", "问答"),
    "whatif.question": ("Question", "问题"),
    "whatif.context": ("Context", "上下文"),
    "whatif.edited_question": ("Edited question", "修改后的问题"),
    "whatif.edited_context": ("Edited context", "修改后的上下文"),
    "whatif.question_diff": ("What the edit changed in the question", "问题中修改了什么"),
    "whatif.context_diff": ("What the edit changed in the context", "上下文中修改了什么"),
    "whatif.answers": ("Best answer before and after", "修改前后的最佳答案"),
    "whatif.version": ("Version", "版本"),
    "whatif.answer": ("Answer", "答案"),
    "whatif.score": ("Score", "分数"),
    "whatif.no_answer": ("(no answer)", "（没有答案）"),
    "whatif.answer_changed": (
        "The answer changes from “{before}” ({before_score:.3f}) to “{after}” ({after_score:.3f}).",
        "答案从“{before}”（{before_score:.3f}）变为“{after}”（{after_score:.3f}）。",
    ),
    "whatif.answer_kept": (
        "The answer stays “{answer}”: score {before_score:.3f} → {after_score:.3f}.",
        "答案仍为“{answer}”：分数 {before_score:.3f} → {after_score:.3f}。",
    ),
}
