"""The prompt a translation sends and the clean-up of the reply it gets back.

The prompt is a chat: two short demonstrations as earlier turns (in the languages
llmkit has them for), then one paragraph of instruction, a blank line and the text,
with no label such as "Text:" (SmolLM2-135M echoes labels back). The reply loses what
a model adds around a translation, and only that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..types import Message, assistant, user

__all__ = ["Spec", "again", "clean", "prompt"]


@dataclass(frozen=True)
class Spec:
    """What one translate call asks for, checked (see translation._spec)."""

    source: str | None  # tag, or None to detect
    source_name: str | None
    target: str
    target_name: str
    glossary: dict[str, str]
    protect: str
    chunk_tokens: int
    demos: bool = True


# Two short demonstrations, as earlier turns of the chat, in the languages llmkit has
# them for: they show a small model the form of the answer (the translation alone, the
# tokens copied). Measured on SmolLM2-135M: chrF 30 with them vs 21 without, and more
# placeholders kept. For other languages, no demonstration.
_DEMOS = {
    "en": ("Hello [1], you have [2] new messages.", "Click [1]here[2] to save the file."),
    "fr": ("Bonjour [1], vous avez [2] nouveaux messages.", "Cliquez [1]ici[2] pour enregistrer le fichier."),
    "de": ("Hallo [1], Sie haben [2] neue Nachrichten.", "Klicken Sie [1]hier[2], um die Datei zu speichern."),
    "es": ("Hola [1], tienes [2] mensajes nuevos.", "Haz clic [1]aquí[2] para guardar el archivo."),
    "it": ("Ciao [1], hai [2] nuovi messaggi.", "Fai clic [1]qui[2] per salvare il file."),
    "pt": ("Olá [1], você tem [2] novas mensagens.", "Clique [1]aqui[2] para salvar o arquivo."),
    "nl": ("Hallo [1], je hebt [2] nieuwe berichten.", "Klik [1]hier[2] om het bestand op te slaan."),
    "pl": ("Cześć [1], masz [2] nowe wiadomości.", "Kliknij [1]tutaj[2], aby zapisać plik."),
    "ru": ("Здравствуйте, [1], у вас [2] новых сообщений.", "Нажмите [1]здесь[2], чтобы сохранить файл."),
    "zh": ("你好，[1]，你有 [2] 条新消息。", "点击[1]这里[2]保存文件。"),
    "ja": ("こんにちは、[1]さん。新しいメッセージが [2] 件あります。", "ファイルを保存するには[1]ここ[2]をクリックしてください。"),
}  # fmt: skip
_AS_IS = ({"[1]": "%(name)s", "[2]": "{count}"}, {"[1]": "<b>", "[2]": "</b>"})  # the demos' spans, unmasked


def _demos(spec: Spec, masked: bool) -> list[tuple[str, str]]:
    source = (spec.source or "en").split("-")[0]
    target = spec.target.split("-")[0]
    if not spec.demos or source not in _DEMOS or target not in _DEMOS:
        return []
    pairs = list(zip(_DEMOS[source], _DEMOS[target], strict=True))
    if masked:
        return pairs
    out = []
    for (a, b), spans in zip(pairs, _AS_IS, strict=True):
        for token, span in spans.items():
            a, b = a.replace(token, span), b.replace(token, span)
        out.append((a, b))
    return out


def prompt(spec: Spec, text: str, *, masked: bool, before: str = "", after: str = "") -> list[Message]:
    """The chat: the demonstrations as earlier turns, then the instruction and the text
    (one paragraph of instruction, a blank line, the text: no label the model echoes)."""
    turns: list[Message] = []
    for demo, answer in _demos(spec, masked):
        turns += [user(f"{_instruction(spec, masked)}\n\n{demo}"), assistant(answer)]
    return [*turns, user(f"{_instruction(spec, masked, before, after)}\n\n{text}")]


def _instruction(spec: Spec, masked: bool, before: str = "", after: str = "") -> str:
    src = spec.source_name
    if masked:  # no literal placeholder in the prompt: the tokens stand for them all
        keep = "the Markdown formatting and every token such as [1] or [2] (each exactly once)"
    else:
        keep = "the Markdown formatting, code, URLs, HTML tags and placeholders such as %(name)s, {name} and %s"
    lines = [
        f"Translate the following text {f'from {src} ' if src else ''}to {spec.target_name}."
        f"{'' if src else ' Detect its language yourself.'} Keep {keep} unchanged. Reply with the translation only."
    ]
    if spec.glossary:
        terms = "; ".join(f'"{k}" -> "{v}"' for k, v in spec.glossary.items())
        lines.append(f"Translate these terms exactly so: {terms}.")
    if before or after:  # words joined by spaces: the instruction stays one paragraph
        lines.append("It is part of a longer text. For context only (do not translate this):")
        lines += [f"Before: {before}"] if before else []
        lines += [f"After: {after}"] if after else []
    return "\n".join(lines)


def again(problems: list[str], sent: str, masked: bool) -> str:
    what = "; ".join(problems)
    keep = " Copy every token such as [1] exactly once." if masked else " Copy placeholders, code and tags exactly."
    return f"That translation cannot be used: {what}.{keep} Translate this text again, with the translation only:\n\n{sent}"


_AFFIRM = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely)\b[^\n\w]*$", re.I)
_LABEL = re.compile(r"^\**([^\n:*]{1,40}?)\**\s*:\s*\**\s*(?=\S)")
_NOTE = re.compile(r"\n\s*\n[(*\s]*(?:note|notes|explanation|translator's note|translation notes?)\s*\**\s*[:)].*$",
                   re.I | re.S)  # fmt: skip


def clean(reply: str, sent: str, spec: Spec) -> str:
    """The reply without what a model adds around a translation: a preamble line
    ("Sure! Here is the French translation:"), a label ("French: ..."), wrapping quotes
    or fences, a trailing note. Only what the source itself does not have, and only
    lines that speak of the translation or the languages (a real first line that ends
    in a colon stays)."""
    text, source = reply.strip(), sent.strip()
    fence = re.fullmatch(r"```[\w-]*\n(.*?)\n?```", text, re.S)
    if fence and not source.startswith("```"):
        text = fence.group(1).strip()
    names = {spec.target_name.lower(), spec.target_name.split(" (")[0].lower()}
    if spec.source_name:
        names.add(spec.source_name.split(" (")[0].lower())

    def about(line: str) -> bool:  # does a line speak of translating?
        line = line.lower()
        return any(w in line for w in ("translat", "tradu", "übersetz")) or any(
            re.search(rf"\b{re.escape(n)}\b", line) for n in names
        )

    src_head = source.split("\n", 1)[0]
    for _ in range(2):  # "Sure!" then "Here is the translation:"
        first, _nl, rest = text.partition("\n")
        head = first.strip().strip("*#").strip()
        if not rest.strip() or about(src_head) or _AFFIRM.match(src_head):
            break
        if _AFFIRM.match(head) or (head.endswith(":") and about(head)):
            text = rest.strip()
        else:
            break
    label = _LABEL.match(text)
    if label and len(label.group(1).split()) <= 4 and about(label.group(1)) and not about(src_head):
        text = text[label.end() :].strip()  # "French: Bonjour"
    if not _NOTE.search(source):
        text = _NOTE.sub("", text).strip()
    for a, b in ('""', "“”", "«»", "''"):
        if len(text) > 2 and text[0] == a and text[-1] == b and not source.startswith(a):
            text = text[1:-1].strip()
    return text
