"""What `llmkit ask` sends and prints beyond the plain question: stdin, attachments
(-a), templates (-T, --save), per-model default options, the code block of a reply (-x)
and the usage line (-u). Kept apart from llmkit.cli.ask so that each piece is small and
tested on its own.

    >>> extract_code("Here:\\n```python\\nprint(1)\\n```\\nand more")
    'print(1)\\n'
    >>> extract_code("no code") is None
    True
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "add_arguments",
    "add_template_argument",
    "join_stdin",
    "attachments",
    "with_images",
    "extract_code",
    "usage_line",
    "effective",
    "load_template",
    "save_template",
    "IMAGE_TYPES",
    "MAX_IMAGE_BYTES",
]

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # fmt: skip
_MAGIC = [(b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif")]
MAX_IMAGE_BYTES = 20_000_000  # OpenAI's limit per image
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[^\n`]*\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """ask's own flags (chat takes -T only: add_template_argument)."""
    p.add_argument("-a", "--attach", action="append", default=[], metavar="FILE",
                   help="attach a text file (any model) or an image (PNG, JPEG, GIF, WebP, or an http(s) URL; "
                        "models that take images); repeatable")  # fmt: skip
    p.add_argument("-x", "--extract", action="store_true",
                   help="print only the first fenced code block of the reply (all of it when there is none)")  # fmt: skip
    p.add_argument("-u", "--usage", action="store_true", help="print the token usage (and cost) on stderr")
    add_template_argument(p)
    p.add_argument("--save", metavar="NAME",
                   help="save -m, -s, the options and the prompt as template NAME, and exit without asking")  # fmt: skip


def add_template_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("-T", "--template", metavar="NAME",
                   help="use a saved template (`llmkit templates` lists them); flags given here win over it")  # fmt: skip


def join_stdin(prompt: str, piped: str) -> str:
    """Piped text first, then the prompt (as `llm` does): `cat notes | llmkit ask
    'summarise'` reads as the notes followed by the instruction."""
    if not piped.strip():
        return prompt
    return f"{piped.rstrip(chr(10))}\n\n{prompt}" if prompt else piped


def attachments(paths: list[str]) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(text blocks to append to the prompt, (name, image content part) pairs) of the -a
    arguments, in order."""
    from llmkit.repl.attach import format_attachment, read_attachment

    texts: list[str] = []
    images: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        image = _image(path)
        if image is not None:
            images.append((path, image))
        else:
            texts.append(format_attachment(*read_attachment(path)))
    return texts, images


def _image(path: str) -> dict[str, Any] | None:
    """An image_url content part for an image file or URL; None for anything else."""
    from llmkit.errors import UsageError
    from llmkit.userfiles import read_capped

    if re.match(r"(?i)^https?://", path):
        return {"type": "image_url", "image_url": {"url": path}}  # the server fetches it
    p = Path(path).expanduser()
    if not p.is_file():
        return None  # read_attachment says what is wrong
    with open(p, "rb") as f:
        head = f.read(16)
    mime = next((m for magic, m in _MAGIC if head.startswith(magic)), None)
    if mime is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        mime = "image/webp"
    if mime is None and p.suffix.lower() in IMAGE_TYPES:
        raise UsageError(f"{p} is named like an image but is not a PNG, JPEG, GIF or WebP file")
    if mime is None:
        return None
    data = read_capped(p, MAX_IMAGE_BYTES, "an image")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}}


def with_images(client: Any, prompt: str, images: list[tuple[str, dict[str, Any]]]) -> str | list[dict[str, Any]]:
    """The message content: the prompt alone, or text and image parts for a model that
    takes images (MissingCapabilityError for one that does not)."""
    from llmkit.errors import MissingCapabilityError

    if not images:
        return prompt
    if not client.capabilities.images:
        raise MissingCapabilityError(f"{client.model} does not take images ({', '.join(n for n, _ in images)})",
                                     hint="Use a model that does, e.g. -m openai:gpt-4o-mini; text files can be "
                                          "attached to any model.", model=client.model)  # fmt: skip
    return [{"type": "text", "text": prompt}, *(part for _, part in images)]


def extract_code(text: str) -> str | None:
    """The first fenced code block's body (``` or ~~~ fences, with or without a
    language), or None when the text has none."""
    m = _FENCE.search(text)
    return m.group("code") if m else None


def usage_line(turn: Any) -> str:
    u = turn.usage
    parts = [f"{u.input_tokens} input", f"{u.output_tokens} output"]
    line = f"usage: {', '.join(parts)} tokens" + (" (estimated)" if u.estimated else "")
    if u.cost is not None:
        line += f", ${u.cost:.6f}"
    return line


def load_template(args: argparse.Namespace) -> Any:
    """The template named by -T, or None."""
    from llmkit.cli import templates

    return templates.load(args.template) if getattr(args, "template", None) else None


def effective(args: argparse.Namespace, template: Any, conversation: dict[str, Any], explicit: dict[str, Any]
              ) -> tuple[str | None, str | None, dict[str, Any]]:  # fmt: skip
    """(model, system, options) for ask and chat: what is given on the command line wins
    over the template, which wins over the conversation continued (model, system) and
    over the model's stored default options (`llmkit models options`)."""
    from llmkit.cli import model_options

    model = args.model or (template.model if template else None) or conversation.get("model")
    system = args.system or (template.system if template else None) or conversation.get("system")
    options = {**model_options.defaults_for(model), **(template.options if template else {}), **explicit}
    return model, system, options


def save_template(args: argparse.Namespace, prompt: str, explicit: dict[str, Any]) -> int:
    """`ask --save NAME`: the template (on top of -T's, when given), then exit."""
    from llmkit.cli import templates
    from llmkit.errors import UsageError

    if args.attach:
        raise UsageError("--save keeps -m, -s, the options and the prompt, not attachments",
                         hint="Attach the files when you use the template: llmkit ask -T NAME -a FILE ...")  # fmt: skip
    base = templates.load(args.template) if args.template else templates.Template(args.save)
    t = templates.Template(args.save, model=args.model or base.model, system=args.system or base.system,
                           prompt=prompt or base.prompt, options={**base.options, **explicit})  # fmt: skip
    existed = templates.names().count(args.save) > 0
    path = templates.save(t)
    print(f"{'replaced' if existed else 'saved'} template {args.save} ({path}); use it with "
          f"`llmkit ask -T {args.save} ...` or `llmkit chat -T {args.save}`", file=sys.stderr)  # fmt: skip
    return 0
