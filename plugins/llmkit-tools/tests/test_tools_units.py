"""convert_units: conversions (temperatures with their offsets), refusals with suggestions,
and unit text that pint would evaluate (a tower of powers) refused before pint sees it."""

import time

import pytest
from llmkit_tools import ToolInputError, convert_units
from tools_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)

from llmkit.errors import UsageError


def value(v, a, b):
    return convert_units(v, a, b)["value"]


@pytest.mark.parametrize("v, a, b, expected", [
    (20, "degC", "degF", 68.0),
    (-40, "degC", "degF", -40.0),
    (100, "degC", "degF", 212.0),
    (98.6, "degF", "degC", 37.0),
    (0, "K", "degC", -273.15),
    (25, "celsius", "kelvin", 298.15),
    (32, "fahrenheit", "K", 273.15),
    (10, "°C", "°F", 50.0),               # 49.999999999999936 in pint: rounded to 12 digits
    (10, "delta_degC", "delta_degF", 18.0),  # a difference of temperatures: no offset
    (491.67, "degR", "degF", 32.0),
])
def test_temperatures_apply_their_offsets(v, a, b, expected):
    assert value(v, a, b) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("v, a, b, expected", [
    (1, "mile", "km", 1.609344),
    (60, "mph", "km/h", 96.56064),
    (1, "kWh", "MJ", 3.6),
    (1, "GiB", "byte", 1073741824),
    (3, "cup", "ml", 709.7647095),
    (1, "m^2", "ft**2", 10.7639104167),
    (1, "lb", "kg", 0.45359237),
    (2, "1/s", "Hz", 2.0),
    (5, "kilometres", "metre", 5000.0),
])
def test_ordinary_conversions(v, a, b, expected):
    assert value(v, a, b) == pytest.approx(expected, rel=1e-9)


def test_the_result_names_both_sides():
    out = convert_units(20, "degC", "degF")
    assert out == {"value": 68.0, "unit": "degree_Fahrenheit", "result": "68 degree_Fahrenheit",
                   "from": "20 degree_Celsius"}


def test_called_as_a_model_calls_it():
    assert convert_units.name == "convert_units"
    assert set(convert_units.parameters["properties"]) == {"value", "from_unit", "to_unit"}
    assert convert_units.call('{"value": "3", "from_unit": "ft", "to_unit": "m"}')["value"] == pytest.approx(0.9144)


def test_an_unknown_unit_is_refused_with_close_matches():
    with pytest.raises(ToolInputError) as e:
        convert_units(1, "meterz", "m")
    assert "unknown unit 'meterz'" in e.value.message and "meter" in e.value.message
    with pytest.raises(ToolInputError) as e:
        convert_units(1, "degC", "Fahrenheit")  # pint is case-sensitive here: say what it knows
    assert "Did you mean: fahrenheit" in e.value.message
    assert "degF" in e.value.hint
    assert isinstance(e.value, UsageError)


def test_units_of_different_kinds_are_refused():
    with pytest.raises(ToolInputError, match="cannot convert meter .*length.* to second"):
        convert_units(1, "m", "s")
    with pytest.raises(ToolInputError) as e:
        convert_units(20, "C", "F")  # coulomb to farad, which is not what a model meant
    assert "degC" in e.value.hint and "coulomb" in e.value.hint


@pytest.mark.parametrize("unit", [
    "m**(10**10**10)",        # pint evaluates this: it would never return
    "m**99",                  # a power past the limit
    "__import__('os')",
    "1e9999 m",
    "2 m",                    # the number goes in `value`
    "m; rm -rf /",
    "x" * 81,
    "",
    "   ",
])
def test_unit_text_outside_the_grammar_is_refused_at_once(unit):
    start = time.monotonic()
    with pytest.raises(ToolInputError):
        convert_units(1, unit, "m")
    with pytest.raises(ToolInputError):
        convert_units(1, "m", unit)
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("raw", ['"inf"', '"nan"', "Infinity"])
def test_a_value_that_is_not_finite_is_refused(raw):
    with pytest.raises(ToolInputError, match="not a finite number"):
        convert_units.call(f'{{"value": {raw}, "from_unit": "m", "to_unit": "km"}}')


def test_a_result_too_large_for_a_float_is_refused():
    with pytest.raises(ToolInputError, match="too large"):
        convert_units(1e308, "light_year", "nm")
