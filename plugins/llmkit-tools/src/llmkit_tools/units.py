"""convert_units: a value from one unit to another, through pint.

    >>> convert_units(20, "degC", "degF")["value"]
    68.0
    >>> convert_units(1, "mile", "km")["result"]
    '1.609344 kilometer'

Design: pint (a well-kept library with ~1000 units, prefixes and plurals) does the
conversion; this module decides what it is shown. A model's unit text is checked against
a small grammar first (unit names, * / ( ), and ** or ^ with a small number), because pint
evaluates the numbers in a unit expression and `m**(10**10**10)` would never return; the
value is a separate float argument, never parsed from text. Temperatures are absolute
readings (20 degC -> 68 degF, offsets applied); a difference of temperatures is a
`delta_degC`/`delta_degF`. Results are rounded to 12 significant digits, which removes
float noise (49.999999999999936) and loses nothing a model could use. A unit pint does not
know is refused with the known names that look like it. The registry is built on the
first call (about 0.3 s) and shared, behind a lock.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

from llmkit.tools import tool

from .refusals import ToolInputError, close_matches

__all__ = ["convert_units", "MAX_UNIT_LENGTH"]

MAX_UNIT_LENGTH = 80
MAX_EXPONENT = 12

# What a unit expression may hold: names (letters, then letters, digits, _; ° and % too),
# * / · ( ), spaces, and ** or ^ followed by a small number; a lone "1" only before "/".
_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<pow>(?:\*\*|\^)\s*(?P<exp>[-+]?\d{1,2}(?:\.\d{1,3})?))"
    r"|(?P<op>[*/·()])"
    r"|(?P<one>1(?=\s*/))"
    r"|(?P<name>(?:[^\W\d_]|[°%Δ])[\w°%]*)"
)

_lock = threading.Lock()
_registry: Any = None


def _ureg() -> Any:
    global _registry
    with _lock:
        if _registry is None:
            import pint

            _registry = pint.UnitRegistry()
        return _registry


def _checked(text: str, which: str) -> str:
    """The unit text, stripped, if it fits the grammar; a ToolInputError saying why not."""
    if not isinstance(text, str) or not text.strip():
        raise ToolInputError(f"{which} is empty", hint="Give a unit name, e.g. 'km', 'degC' or 'm/s'.")
    text = text.strip()
    if len(text) > MAX_UNIT_LENGTH:
        raise ToolInputError(f"{which} is longer than {MAX_UNIT_LENGTH} characters")
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ToolInputError(
                f"{which} {text!r} is not a unit expression (at {text[pos:pos + 10]!r})",
                hint="Use unit names with * / ( ) and ** or ^ for powers, e.g. 'kg*m/s**2'; give the number "
                     "as the value, not in the unit.")  # fmt: skip
        if m.group("exp") is not None and abs(float(m.group("exp"))) > MAX_EXPONENT:
            raise ToolInputError(f"{which} {text!r} has a power above {MAX_EXPONENT}")
        pos = m.end()
    return text


def _unit_names(ureg: Any) -> list[str]:
    try:
        return [str(name) for name in ureg]
    except Exception:  # a pint without iteration over its units: only no suggestions
        return []


def _parse(ureg: Any, text: str, which: str) -> Any:
    import pint

    try:
        return ureg.parse_units(text)
    except pint.UndefinedUnitError as exc:
        unknown = [str(u) for u in getattr(exc, "unit_names", ())] or [text]
        word = unknown[0]
        similar = close_matches(word, _unit_names(ureg))
        near = f" Did you mean: {', '.join(similar)}?" if similar else ""
        hint = "Use a unit name or symbol, e.g. m, km, mile, kg, lb, s, h, J, kWh, Pa, psi, L, gallon."
        if any(t in word.casefold() for t in ("deg", "cel", "fahr", "kel", "°")):
            hint = "For temperatures use degC, degF or K (delta_degC, delta_degF for a difference)."
        raise ToolInputError(f"unknown unit {word!r} in {which} {text!r}.{near}", hint=hint) from None
    except (pint.PintError, ValueError, TypeError, SyntaxError, AttributeError) as exc:
        raise ToolInputError(f"{which} {text!r} is not a unit pint can read: {exc}") from None


def _round(x: float) -> float:
    return float(f"{x:.12g}")


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
    """Convert a quantity between units, e.g. value=20, from_unit="degC", to_unit="degF";
    or 60 "mph" to "km/h", 5 "kWh" to "MJ", 3 "cup" to "ml". Units are names or symbols
    (km, mile, lb, kg, degC, degF, K, psi, bar, GiB, ...), combined with * / and ** powers.
    Temperatures are readings (offsets applied); for a temperature difference use
    delta_degC / delta_degF."""
    if not math.isfinite(value):
        raise ToolInputError(f"the value {value!r} is not a finite number")
    source_text = _checked(from_unit, "from_unit")
    target_text = _checked(to_unit, "to_unit")
    import pint

    ureg = _ureg()
    with _lock:
        source = _parse(ureg, source_text, "from_unit")
        target = _parse(ureg, target_text, "to_unit")
        try:
            converted = ureg.Quantity(value, source).to(target)
        except pint.DimensionalityError:
            hint = "Convert between units of the same kind (length to length, speed to speed)."
            if {source_text, target_text} & {"C", "F"}:
                hint = "'C' is the coulomb and 'F' the farad: for temperatures use degC and degF."
            raise ToolInputError(
                f"cannot convert {source} ({_dims(source)}) to {target} ({_dims(target)}): they measure different things",
                hint=hint,
            ) from None
        except pint.OffsetUnitCalculusError as exc:
            raise ToolInputError(f"cannot convert {source} to {target}: {exc}",
                                 hint="Convert a temperature on its own (degC to degF), not inside a product.") from None  # fmt: skip
        except (pint.PintError, ArithmeticError, ValueError) as exc:
            raise ToolInputError(f"cannot convert {source} to {target}: {exc}") from None
        magnitude = float(converted.magnitude)
        unit = str(converted.units)
        source_name = str(source)
    if not math.isfinite(magnitude):
        raise ToolInputError(f"{value} {source_name} in {unit} is too large to represent")
    result = _round(magnitude)
    return {
        "value": result,
        "unit": unit,
        "result": f"{result:.12g} {unit}",
        "from": f"{_round(value):.12g} {source_name}",
    }


def _dims(unit: Any) -> str:
    try:
        return str(unit.dimensionality)
    except Exception:
        return "?"
