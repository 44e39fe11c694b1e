"""The "Inside the model" tab's strings in English and Simplified Chinese, and Chinese for its views' errors."""

from __future__ import annotations

TEXT = {
    "inside.tab": ("Inside the model", "模型内部"),
    "inside.intro": (
        "Not only what a model answers, but why: the ideas that make these models work, shown on "
        "the same models as the other tabs.",
        "不只看模型回答什么，还看它为什么这样回答：用其他标签页里的同一批模型，展示这些模型背后的原理。",
    ),
    "inside.sentence": ("Sentence", "句子"),
    "inside.text": ("Text", "文本"),
    "inside.fill_mask": ("Masked word", "掩码词预测"),
    "inside.fill_mask_about": (
        "BERT-style models are pre-trained by hiding words and predicting them. Put the "
        "model's mask token where a word is missing and see what it would fill in.",
        "BERT 类模型的预训练方式是遮住一些词再去预测它们。在缺词的位置放上模型的掩码标记，看看它会填什么。",
    ),
    "inside.insert_mask": ("Insert mask token", "插入掩码标记"),
    "inside.top_k": ("Candidates to show", "显示的候选数"),
    "inside.predict": ("Predict the hidden word", "预测被遮住的词"),
    "inside.fillers": ("Most probable fillers", "最可能的填充词"),
    "inside.attention": ("Self-attention", "自注意力"),
    "inside.attention_about": (
        "In every layer, each token builds its next representation from a weighted mix of "
        "all tokens. Row: the token looking; column: the token it looks at. Each row "
        "sums to 1.",
        "在每一层中，每个词元都按权重混合所有词元来构建自己的新表示。行：发出注意的词元；"
        "列：被关注的词元。每一行的权重之和为 1。",
    ),
    "inside.layer": ("Layer", "层"),
    "inside.head": ("Head", "注意力头"),
    "inside.show_attention": ("Show attention", "显示注意力"),
    "inside.attention_plot": ("Attention weights", "注意力权重"),
    "inside.attention_numbers": ("The chosen head's weights as numbers", "所选注意力头的权重数值"),
    "inside.attention_query": ("Token ↓ attends to →", "词元 ↓ 关注 →"),
    "inside.attention_head_title": (
        "Layer {layer} of {layers}, head {head} of {heads}",
        "第 {layer}/{layers} 层，第 {head}/{heads} 个头",
    ),
    "inside.attention_mean_title": ("Layer {layer}, mean over {heads} heads", "第 {layer} 层，{heads} 个头的平均"),
    "inside.attention_rows": ("Token (query)", "词元（查询）"),
    "inside.attention_columns": ("Attends to (key)", "关注的词元（键）"),
    "inside.explain": ("Why this label", "为什么是这个标签"),
    "inside.explain_about": (
        "Integrated gradients: how much each token pushed the predicted label's score up "
        "(red) or down (purple), compared with the same input with its words blanked out.",
        "积分梯度：与把词全部遮掉的输入相比，每个词元把预测标签的分数推高（红色）或拉低（紫色）了多少。",
    ),
    "inside.explain_button": ("Explain the label", "解释这个标签"),
    "inside.attributions": ("Token attributions", "词元贡献"),
    "inside.prediction": ("Prediction", "预测结果"),
    "inside.explain_summary": (
        "**{label}**: logit {logit:.4f}, baseline logit {baseline:.4f}. The attributions "
        "add up to {total:.4f} (off by {gap:.1e}).",
        "**{label}**：logit 为 {logit:.4f}，基线 logit 为 {baseline:.4f}。各词元贡献之和为 "
        "{total:.4f}（误差 {gap:.1e}）。",
    ),
    "inside.surprise": ("Token surprise", "词元意外度"),
    "inside.surprise_about": (
        "A language model gives every text a probability, one token at a time. Redder "
        "tokens were less expected given the tokens before them. Perplexity is "
        "exp(mean negative log-probability): lower means less surprised.",
        "语言模型逐个词元地为文本计算概率。颜色越红，说明在前文条件下这个词元越出乎模型意料。"
        "困惑度 = exp(平均负对数概率)，越低说明模型越不意外。",
    ),
    "inside.surprise_button": ("Measure surprise", "计算意外度"),
    "inside.surprise_text": ("Surprise per token", "每个词元的意外度"),
    "inside.perplexity": ("Perplexity", "困惑度"),
    "inside.surprise_table": ("Log-probability of each piece", "每个片段的对数概率"),
    "inside.piece": ("Piece", "片段"),
    "inside.logprob": ("Log-probability", "对数概率"),
    "inside.probability": ("Probability", "概率"),
    "inside.salience": ("Where the answer came from", "答案从何而来"),
    "inside.salience_about": (
        "Select a span of a language model's answer to see how much each part of the prompt contributed to it: "
        "the gradient of the span's log-probability with respect to each earlier token, times that token's "
        "embedding (gradient × input, as Google PAIR's LIT shows sequence salience). Red raised the span's "
        "probability, purple lowered it; shading is relative to the strongest piece of the prompt, and of the "
        "answer. Paste a prompt and answer, carry them from Text generation, or generate one here.",
        "选中语言模型回答中的一段，看看提示词的每个部分对它贡献了多少：该片段对数概率对前面每个词元的梯度，"
        "乘以该词元的嵌入（梯度 × 输入，即 Google PAIR 的 LIT 所展示的序列显著性）。红色表示提高了该片段的概率，"
        "紫色表示降低了；提示词和回答各自以其中最强的部分为准着色。"
        "可以粘贴提示词和回答，从“文本生成”带过来，或在这里生成。",
    ),
    "inside.prompt": ("Prompt", "提示词"),
    "inside.answer": ("Answer: select the span to explain", "回答：选中要解释的片段"),
    "inside.span_start": ("Span start (character)", "片段起点（字符）"),
    "inside.span_end": ("Span end (0: the whole answer)", "片段终点（0 表示整个回答）"),
    "inside.max_new_tokens": ("Answer length (tokens)", "回答长度（词元）"),
    "inside.generate": ("Generate an answer", "生成回答"),
    "inside.salience_button": ("Show where it came from", "显示来源"),
    "inside.grouping": ("Group by", "分组方式"),
    "inside.by_tokens": ("tokens", "词元"),
    "inside.by_words": ("words", "词语"),
    "inside.by_sentences": ("sentences", "句子"),
    "inside.by_paragraphs": ("paragraphs", "段落"),
    "inside.salience_prompt": ("The prompt: each part's salience for the span", "提示词：各部分对该片段的显著性"),
    "inside.salience_answer": ("The answer before the span, scored the same way", "该片段之前的回答，同样打分"),
    "inside.salience_summary": (
        "The span “{span}”: {tokens} tokens, log-probability {logprob:.3f}. Salience summed by {grouping}; the "
        "strongest piece is “{strongest}”.",
        "片段“{span}”：{tokens} 个词元，对数概率 {logprob:.3f}。显著性按{grouping}求和；最强的部分是“{strongest}”。",
    ),
    "inside.salience_cut": (
        "The first {tokens} tokens did not fit the model's window and are left out (unshaded), as they would have "
        "been when it wrote the answer.",
        "开头的 {tokens} 个词元超出了模型的窗口，未计入（不着色），与模型生成回答时一样。",
    ),
    "inside.salience_template": (
        "The chat template's own tokens (role markers) add {total:.4f}.",
        "聊天模板自身的词元（角色标记）贡献了 {total:.4f}。",
    ),
}
ERRORS_ZH = {
    "no_mask_token": "“{model}”没有掩码标记，无法预测被遮住的词。",
    "no_mask": "请在缺词的位置放上掩码标记 {mask}。",
    "several_masks": "掩码标记 {mask} 只能用一次；文本中出现了 {count} 次。",
    "too_many_tokens": "文本有 {tokens} 个词元；此视图最多处理 {limit} 个。请缩短文本。",
    "bad_span": "所选片段必须在答案之内：答案共 {length} 个字符，所选为第 {start} 到第 {end} 个。",
    "no_span": "请选中答案中要解释的文字。",
    "span_too_long": "所选片段连同它前面的内容超出了模型 {window} 个词元的窗口；请选短一些的片段。",
    "bad_grouping": "请按以下方式之一分组：{choices}。",
}
