"""The date tools: calendar months that clamp, exact durations, differences checked
against brute force, ISO parsing, and refusals."""

import datetime as dt
import random

import pytest
from llmkit_tools import ToolInputError, date_tools
from llmkit_tools.dates import parse_when
from tools_fixtures import *  # noqa: F403  (the fixtures; a conftest.py would clash across plugins)

from llmkit.agents import tools_of


def test_the_tool_set_has_three_tools_with_schemas():
    tools = {t.name: t for t in tools_of(date_tools)}
    assert set(tools) == {"date_add", "date_diff", "date_info"}
    assert set(tools["date_add"].parameters["properties"]) == {"date", "years", "months", "weeks", "days", "hours",
                                                              "minutes", "seconds"}
    assert tools["date_add"].parameters["required"] == ["date"]
    assert tools["date_diff"].call('{"start": "2024-01-01", "end": "2024-01-08"}')["days"] == 7


@pytest.mark.parametrize("date, kwargs, expected, clamped", [
    ("2024-01-31", {"months": 1}, "2024-02-29", True),      # a leap year
    ("2023-01-31", {"months": 1}, "2023-02-28", True),
    ("2024-02-29", {"years": 1}, "2025-02-28", True),
    ("2024-03-31", {"months": -1}, "2024-02-29", True),
    ("2024-01-15", {"months": 13}, "2025-02-15", False),
    ("2024-01-15", {"years": -1, "months": -2}, "2022-11-15", False),
    ("2024-02-28", {"days": 1}, "2024-02-29", False),
    ("2024-12-31", {"days": 1}, "2025-01-01", False),
    ("2024-03-01", {"weeks": -2}, "2024-02-16", False),
    ("2024-03-01", {"hours": 36}, "2024-03-02T12:00:00", False),  # a time turns the date into a datetime
    ("2024-03-10T23:30", {"minutes": 45}, "2024-03-11T00:15:00", False),
    ("2024-03-10T23:30:00Z", {"seconds": 30}, "2024-03-10T23:30:30+00:00", False),
    ("2024-01-31T08:00+02:00", {"months": 1}, "2024-02-29T08:00:00+02:00", True),
])
def test_date_add(date, kwargs, expected, clamped):
    out = date_tools.date_add(date, **kwargs)
    assert out["date"] == expected
    assert ("note" in out) is clamped
    day = dt.date.fromisoformat(expected[:10])
    assert out["weekday"] == day.strftime("%A")


def test_date_add_refuses_results_outside_the_calendar():
    with pytest.raises(ToolInputError, match="outside"):
        date_tools.date_add("9999-12-01", months=1)
    with pytest.raises(ToolInputError, match="outside"):
        date_tools.date_add("2024-01-01", days=10**12)
    with pytest.raises(ToolInputError, match="outside"):
        date_tools.date_add("0001-01-01", days=-1)


@pytest.mark.parametrize("bad", ["", "next tuesday", "2024-13-01", "2024-02-30", "01/02/2024", "x" * 50])
def test_a_date_that_is_not_iso_is_refused_with_the_format(bad):
    with pytest.raises(ToolInputError) as e:
        date_tools.date_info(bad)
    assert "ISO 8601" in e.value.hint


def test_today_and_now():
    assert parse_when("today") == dt.date.today()
    assert isinstance(parse_when("now"), dt.datetime)
    assert date_tools.date_info("today")["date"] == dt.date.today().isoformat()


def test_date_diff():
    out = date_tools.date_diff("2024-01-01", "2024-03-01")
    assert out["days"] == 60 and out["calendar"] == "0 years, 2 months, 0 days"
    assert out["weeks_and_days"] == "8 weeks, 4 days"
    out = date_tools.date_diff("2023-01-31", "2024-03-01")
    assert out["calendar"] == "1 year, 1 month, 1 day"  # Jan 31 + 13 months clamps to Feb 29, then 1 day
    back = date_tools.date_diff("2024-03-01", "2024-01-01")
    assert back["days"] == -60 and back["calendar"].startswith("minus ") and back["working_days"] < 0
    week = date_tools.date_diff("2024-03-04", "2024-03-11")  # Monday to Monday
    assert week["working_days"] == 5 and week["start_weekday"] == week["end_weekday"] == "Monday"


def test_date_diff_of_datetimes():
    out = date_tools.date_diff("2024-03-01T12:00Z", "2024-03-03T13:30:00+00:00")
    assert out["days"] == 2 and out["total_hours"] == 49.5 and out["total_seconds"] == 178200
    assert out["calendar"] == "0 years, 0 months, 2 days, 01:30:00"
    # a date beside an aware datetime is its midnight in the same offset
    assert date_tools.date_diff("2024-03-01", "2024-03-01T06:00+05:00")["total_hours"] == 6
    with pytest.raises(ToolInputError, match="offset"):
        date_tools.date_diff("2024-03-01T12:00Z", "2024-03-02T12:00")


def test_date_diff_agrees_with_brute_force():
    rng = random.Random(7)
    for _ in range(300):
        a = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(10_000))
        b = a + dt.timedelta(days=rng.randrange(-800, 800))
        out = date_tools.date_diff(a.isoformat(), b.isoformat())
        assert out["days"] == (b - a).days
        lo, hi = sorted((a, b))
        brute = sum(1 for i in range((hi - lo).days) if (lo + dt.timedelta(days=i)).weekday() < 5)
        assert out["working_days"] == (brute if b >= a else -brute)
        # the calendar breakdown adds back up: lo + years/months (clamped) + days == hi
        parts = out["calendar"].removeprefix("minus ").split(", ")
        years, months, days = (int(p.split()[0]) for p in parts)
        moved = date_tools.date_add(lo.isoformat(), years=years, months=months)["date"]
        assert date_tools.date_add(moved, days=days)["date"] == hi.isoformat()
        assert 0 <= days < 31


@pytest.mark.parametrize("date, key, expected", [
    ("2024-03-01", "weekday", "Friday"),
    ("2021-01-03", "iso_week", "2020-W53"),
    ("2024-12-31", "day_of_year", 366),
    ("2023-02-10", "days_in_month", 28),
    ("2024-02-10", "days_in_month", 29),
    ("1900-06-01", "leap_year", False),
    ("2000-06-01", "leap_year", True),
    ("2024-08-15", "quarter", 3),
])
def test_date_info(date, key, expected):
    assert date_tools.date_info(date)[key] == expected
