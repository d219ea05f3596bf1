"""/embeddings for the OpenAI backend: requests within the API's limits, the reply read
into one `Embeddings`, and a 404 said as "this server serves no embeddings".

The backend (openai.py) owns the calls and retries; this module only shapes what goes
out and reads what comes back, so both the sync and the async path share it. A long
list becomes several requests (at most 2048 inputs and 300k bytes each: a token is at
least one byte, and OpenAI's limit is 300k tokens), joined back in order, usage added.

    >>> [len(r) for r in requests(["a"] * 5000, official=False)]
    [2048, 2048, 904]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import errors as E
from .. import tokens
from ..types import Embeddings, Usage
from .openai_parse import Reader, field

__all__ = ["EMBED_MAX_INPUTS", "EMBED_MAX_BYTES", "requests", "embeddings", "joined", "serves_none"]

EMBED_MAX_INPUTS = 2048  # OpenAI's limits per /embeddings request
EMBED_MAX_BYTES = 300_000  # its token limit is 300k; a token is at least one byte


def requests(texts: list[str], official: bool) -> Iterator[list[str]]:
    """The texts in requests within the limits, in order."""
    if official and "" in texts:
        raise E.InvalidOptionError(
            f"text #{texts.index('')} is empty, and OpenAI's /embeddings refuses empty strings",
            hint="Leave empty texts out (or embed a single space in their place).",
        )
    chunk: list[str] = []
    size = 0
    for text in texts:
        n = len(text.encode("utf-8"))
        if chunk and (len(chunk) == EMBED_MAX_INPUTS or size + n > EMBED_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(text)
        size += n
    if chunk:
        yield chunk


def embeddings(result: Any, texts: list[str], model: str, model_id: str, priced: bool) -> Embeddings:
    """One reply read through checks (a wrong shape is a MalformedResponseError); usage as
    the server reported it, else counted (and marked estimated); priced on the official API."""
    read = Reader(model_id)
    vectors = read.vectors(result, len(texts))
    reported = read.usage(field(result, "usage"))
    if reported is not None:
        counted = Usage(reported[0], 0)
    else:
        counted = Usage(sum(int(tokens.count(t, model)) for t in texts), 0, estimated=True)
    if priced:
        tokens.add_cost(counted, model)
    served = field(result, "model")
    return Embeddings(vectors, served_model=served if isinstance(served, str) else None, usage=counted)


def joined(parts: list[Embeddings]) -> Embeddings:
    """The embeddings of several requests as one answer, usage added up."""
    if len(parts) == 1:
        return parts[0]
    usage = Usage(sum(p.usage.input_tokens for p in parts), 0, estimated=any(p.usage.estimated for p in parts))
    costs = [p.usage.cost for p in parts]
    usage.cost = None if None in costs else sum(costs)  # type: ignore[arg-type]
    vectors = [v for p in parts for v in p.vectors]
    return Embeddings(vectors, served_model=parts[0].served_model, usage=usage)


def serves_none(error: E.APIError, where: str, model: str, model_id: str) -> E.APIError:
    """A compatible server's 404 (or llama.cpp's 501) on /embeddings: it serves no
    embeddings for this model, said so with what to do; other errors as they are."""
    if error.status_code not in (404, 501):
        return error
    found = E.NotFoundError(
        f"{where} serves no embeddings for {model} (/embeddings answered "
        f"{error.message.partition(' answered ')[2] or error.message})",
        status_code=error.status_code, code=error.code, request_id=error.request_id, model=model_id,
        hint="Embed with a model this server embeds with, or start a server for one (vLLM: an embedding model, "
             "with --runner pooling; llama.cpp: --embeddings); chat models usually embed nothing.",
    )  # fmt: skip
    found.tried = error.tried
    return found
