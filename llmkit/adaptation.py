"""Adaptation: the settings of dynamic evaluation, a local model trained online on the
text it reads (Client.token_stepper(adapt=...), llmkit.compress(adapt=...)).

A stepper that adapts keeps a private copy of the model. After every `segment`
positions it takes one Adam step (`lr`) on the loss of those positions' tokens, over
every row of its batch (one copy shared by the rows), and goes on with the new weights;
the KV cache of what came before stays as it was computed. `layers` trains only the
last N blocks and the final norm (the backward pass stops there: cheaper), None every
weight. The arithmetic is the same in an encoder and a decoder that replay the same
steps, so a compressed file records these settings (`spelled`) and its decoder
trains its copy identically.

    >>> Adaptation(segment=128, layers=4).spelled
    'segment=128,lr=0.0001,layers=4'
    >>> Adaptation.parse('segment=128,lr=0.0001,layers=4') == Adaptation(segment=128, layers=4)
    True
    >>> Adaptation(lr=0)
    Traceback (most recent call last):
    ...
    llmkit.errors.InvalidOptionError: Adaptation(lr=0) is invalid: lr must be a number > 0 and < 1.
    ...

No torch here: the client and the container read and write these settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InvalidOptionError

__all__ = ["Adaptation", "as_adaptation"]


@dataclass(frozen=True)
class Adaptation:
    """Dynamic evaluation's settings: one Adam step of rate `lr` after every `segment`
    positions, on every weight (`layers=None`) or the last `layers` blocks only.
    Measured on alice29 with SmolLM2 (README, Compression): segment 256, lr 1e-4."""

    segment: int = 256
    lr: float = 1e-4
    layers: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.segment, bool) or not isinstance(self.segment, int) or self.segment < 1:
            raise _invalid(f"segment={self.segment!r}", "segment must be an int >= 1")
        lr = self.lr
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or not 0 < lr < 1:
            raise _invalid(f"lr={lr!r}", "lr must be a number > 0 and < 1")
        if self.layers is not None and (isinstance(self.layers, bool) or not isinstance(self.layers, int)
                                        or self.layers < 1):  # fmt: skip
            raise _invalid(f"layers={self.layers!r}", "layers must be None (every weight) or an int >= 1")
        object.__setattr__(self, "lr", float(lr))

    @property
    def spelled(self) -> str:
        """The settings as one string (what a compressed file records); parse() reads it."""
        return f"segment={self.segment},lr={self.lr!r},layers={'all' if self.layers is None else self.layers}"

    @classmethod
    def parse(cls, text: str) -> Adaptation:
        """`spelled`'s form back, or any of its parts ("segment=128,layers=4"; the rest
        default): what `llmkit compress --adapt SPEC` takes."""
        fields: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in ("segment", "lr", "layers") or name in fields:
                raise InvalidOptionError(
                    f"adaptation {text!r} is invalid: {part!r} is not one of segment=N, lr=X, layers=N|all",
                    hint="Write e.g. 'segment=256,lr=0.0001,layers=all' (every part optional).",
                )  # fmt: skip
            try:
                if name == "lr":
                    fields[name] = float(value)
                elif name == "layers" and value.strip() == "all":
                    fields[name] = None
                else:
                    fields[name] = int(value)
            except ValueError:
                raise InvalidOptionError(f"adaptation {text!r} is invalid: {part!r} is not a number",
                                         hint="Write e.g. 'segment=256,lr=0.0001,layers=all'.") from None  # fmt: skip
        return cls(**fields)  # type: ignore[arg-type]


def as_adaptation(adapt: Adaptation | bool | None, default: Adaptation | None = None) -> Adaptation | None:
    """An `adapt=` argument as the backends take it: None (False, None), the default
    (True: `default`, else Adaptation()), or the Adaptation given."""
    if adapt is None or adapt is False:
        return None
    if adapt is True:
        return default or Adaptation()
    if not isinstance(adapt, Adaptation):
        raise InvalidOptionError(f"adapt={adapt!r} is invalid: use an llmkit.Adaptation, True or None",
                                 hint="e.g. adapt=llmkit.Adaptation(segment=256, lr=1e-4); the CLI: --adapt.")  # fmt: skip
    return adapt


def _invalid(what: str, why: str) -> InvalidOptionError:
    return InvalidOptionError(f"Adaptation({what}) is invalid: {why}.",
                              hint="The defaults, Adaptation(), are what the README measured.")  # fmt: skip
