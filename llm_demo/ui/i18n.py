"""English and Simplified Chinese for every string the UI shows.

Static text (labels, buttons, tab names) is translated in the browser through gr.I18n; text the
server builds (errors, table headers, status lines) is translated here from the request's
Accept-Language header. Each tab keeps its strings beside its widgets in a `TEXT` mapping of
key -> (English, Chinese), so adding a widget and its translations is one edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import gradio as gr
from gradio.i18n import I18nData

ENGLISH, CHINESE = "en", "zh-CN"
Texts = Mapping[str, tuple[str, str]]

COMMON_TEXT: Texts = {
    "app.title": ("# llm_demo\nWhat Hugging Face language models can do, and how well they do it.",
                  "# llm_demo\n看看 Hugging Face 语言模型能做什么，以及做得有多好。"),
    "common.model": ("Model", "模型"),
    "common.model_info": ("Pick a listed model or type a Hub id / local folder.",
                          "选择列出的模型，或输入 Hub 模型 ID / 本地文件夹。"),
    "common.model_info_fixed": ("Pick one of the models this deployment offers.", "请选择本部署提供的模型。"),
    "common.model_status": ("Model status", "模型状态"),
    "common.examples": ("Examples", "示例"),
    "common.run": ("Run", "运行"),
    "common.stop": ("Stop", "停止"),
    "common.clear": ("Clear", "清除"),
    "common.label": ("Label", "标签"),
    "common.score": ("Score", "分数"),
    "common.text": ("Text", "文本"),
    "common.advanced": ("Settings", "设置"),
    "common.downloading": ("Downloading {model}: {done:,.0f} of {total:,.0f} MB, {speed:,.1f} MB/s",
                           "正在下载 {model}：{done:,.0f} / {total:,.0f} MB，{speed:,.1f} MB/秒"),
    "common.loading_model": ("Loading {model} onto {device}…", "正在把 {model} 加载到 {device}…"),
    "common.new_token_limit": ("This model writes at most {limit} new tokens.", "该模型最多生成 {limit} 个新词元。"),
    "common.new_token_info": ("The maximum follows the picked model's own limit.", "上限随所选模型自身的限制而定。"),
    "common.runs_on": ("Runs on {device} · {dtype} · loaded in {seconds:.1f} s",
                       "运行于 {device} · {dtype} · 加载耗时 {seconds:.1f} 秒"),
    "error.unexpected": ("Something went wrong on our side ({kind}). The app is still running; please try again.",
                         "服务器内部出错（{kind}）。应用仍在运行，请重试。"),
}

# Chinese wording for the backend's error keys; the English comes with the error itself.
# A tab whose backend raises more keys adds them in its own ERRORS_ZH mapping.
ERRORS_ZH: Mapping[str, str] = {
    "not_text": "输入必须是文本。",
    "empty_text": "请输入内容。",
    "text_too_long": "文本长度为 {length:,} 个字符，上限为 {limit:,}。",
    "bad_setting": "{name} 必须是 {low} 到 {high} 之间的数字。",
    "custom_models_off": "本部署只提供列出的模型。请选择：{known}。",
    "local_paths_off": "此处不允许从本地文件夹加载模型。",
    "no_local_model": "文件夹“{path}”中没有模型（缺少 config.json）。",
    "model_for_other_task": "“{model}”是为其他任务（{other}）列出的模型，不适用于当前任务（{task}）。请选择：{known}。",
    "bad_model_id": "“{model}”不是有效的模型 ID，请使用“组织/模型名”的形式。",
    "out_of_memory": "内存不足。请使用更短的文本或更小的模型。",
    "gated_model": "“{model}”在 Hugging Face Hub 上需要授权访问令牌。",
    "unknown_model": "在 Hugging Face Hub 和本地都找不到模型“{model}”。",
    "hub_unreachable": "无法下载“{model}”：无法连接 Hugging Face Hub，本地也没有缓存。请检查网络或使用本地模型文件夹。",
    "wrong_kind": "“{model}”不能完成{what}：它是另一类模型。",
    "load_failed": "无法加载“{model}”：{reason}",
    "no_labels": "请输入候选标签，用逗号分隔。",
    "duplicate_label": "标签“{label}”重复了。",
    "one_label": "请至少给出两个标签，或打开多标签模式以单独评估一个标签。",
    "not_nli": "“{model}”不是自然语言推理（NLI）模型（其标签为 {labels}），不能做零样本分类。",
    "question_too_long": "问题太长，超出了模型的处理范围，请缩短。",
    "qa_mismatch": "每个问题都需要一段上下文。",
    "unknown_language": "模型不认识语言代码“{code}”。",
    "prompt_too_long": "提示词（{tokens} 个词元）已占满模型 {window} 个词元的窗口，请缩短。",
    "no_chat_template": "“{model}”没有聊天模板：请用它做普通续写。",
    "too_short": "文本太短，无法计算困惑度。",
}


def t(key: str) -> I18nData:
    """A string the browser shows in the reader's language."""
    return I18nData(key)


def language_of(request: gr.Request | None) -> str:
    """The reader's language from Accept-Language: Chinese if it comes first, else English."""
    header = ""
    if request is not None and getattr(request, "headers", None) is not None:
        header = request.headers.get("accept-language", "") or ""
    first = header.split(",")[0].strip().lower()
    return CHINESE if first.startswith("zh") else ENGLISH


class Translations:
    """All texts of the app, for gr.I18n in the browser and for messages built on the server."""

    def __init__(self, tables: Iterable[Texts], error_tables: Iterable[Mapping[str, str]] = ()) -> None:
        self.texts: dict[str, tuple[str, str]] = _merge_once([COMMON_TEXT, *tables])
        self.errors_zh: dict[str, str] = _merge_once([ERRORS_ZH, *error_tables])

    def gradio(self) -> gr.I18n:
        english = {key: pair[0] for key, pair in self.texts.items()}
        chinese = {key: pair[1] for key, pair in self.texts.items()}
        return gr.I18n(en=english, zh=chinese, **{CHINESE: chinese})

    def text(self, key: str, language: str, **params: object) -> str:
        english, chinese = self.texts[key]
        return (chinese if language == CHINESE else english).format(**params)

    def error(self, key: str, english_template: str, language: str, **params: object) -> str:
        """An error message in the reader's language; a key with no Chinese wording stays English."""
        template = self.errors_zh.get(key, english_template) if language == CHINESE else english_template
        return template.format(**params)


def _merge_once(tables: Iterable[Mapping]) -> dict:
    merged: dict = {}
    for table in tables:
        clashes = set(merged) & set(table)
        if clashes:
            raise ValueError(f"translation keys defined twice: {sorted(clashes)}")
        merged.update(table)
    return merged
