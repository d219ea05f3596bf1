"""Date arithmetic on ISO dates: date_add, date_diff, date_info (the tool set `date_tools`).

    >>> date_tools.date_add("2024-01-31", months=1)["date"]      # no Feb 31: the month's last day
    '2024-02-29'
    >>> date_tools.date_diff("2024-01-01", "2024-03-01")["days"]
    60
    >>> date_tools.date_info("2024-03-01")["weekday"]
    'Friday'

Design: models are unreliable at calendars (month lengths, leap years, weekdays), and the
standard library is exact at them, so these tools only parse, compute and report. Dates
and datetimes are ISO 8601 ("2024-03-01", "2024-03-01T14:30", "...+02:00", "...Z"), plus
"today" and "now" (local time). Calendar units (years, months) are applied first and clamp
to the month's last day, saying so; then weeks, days, hours, minutes and seconds, which
are exact durations. A difference is given in days (signed), weeks and days, a calendar
breakdown (years, months, days) and working days (Monday to Friday, the end excluded).
Refusals (a malformed date, a result past year 9999, a time-zone-aware datetime mixed
with a naive one) are ToolInputErrors that say what to send instead.

`date_tools` is an instance of `DateTools`, a tool set: each public method is a tool
(`Agent(tools=[date_tools])`; entry point `date_calc`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from .refusals import ToolInputError

__all__ = ["DateTools", "date_tools", "parse_when"]

_WEEKDAYS = list(calendar.day_name)
_FORMAT_HINT = "Use ISO 8601: '2024-03-01', '2024-03-01T14:30', '2024-03-01T14:30:00+02:00', or 'today' / 'now'."

When = dt.date | dt.datetime


def parse_when(text: str, which: str = "the date") -> When:
    """An ISO date or datetime (or "today"/"now"); a ToolInputError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ToolInputError(f"{which} is empty", hint=_FORMAT_HINT)
    s = text.strip()
    if len(s) > 40:
        raise ToolInputError(f"{which} {s[:40]!r}... is too long for a date", hint=_FORMAT_HINT)
    if s.lower() == "today":
        return dt.date.today()
    if s.lower() == "now":
        return dt.datetime.now().replace(microsecond=0)
    iso = s[:-1] + "+00:00" if s[-1:] in ("Z", "z") else s  # Python 3.10 reads no "Z"
    try:
        if len(iso) <= 10 and "T" not in iso and ":" not in iso:
            return dt.date.fromisoformat(iso)
        return dt.datetime.fromisoformat(iso.replace(" ", "T", 1))
    except ValueError as exc:
        raise ToolInputError(f"{which} {s!r} is not an ISO date or datetime ({exc})", hint=_FORMAT_HINT) from None


def _iso(when: When) -> str:
    return when.isoformat()


def _add_months(when: When, months: int) -> tuple[When, bool]:
    """`when` moved by whole months, clamped to the last day of the month; (result, clamped)."""
    index = when.year * 12 + (when.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise ToolInputError(f"the result falls in year {year}, outside 1..9999")
    last = calendar.monthrange(year, month)[1]
    return when.replace(year=year, month=month, day=min(when.day, last)), when.day > last


def _same_kind(a: When, b: When) -> tuple[When, When]:
    """Two dates, or two datetimes of the same awareness (a date becomes its midnight)."""
    a_dt, b_dt = isinstance(a, dt.datetime), isinstance(b, dt.datetime)
    if not a_dt and not b_dt:
        return a, b
    if not a_dt:
        a = dt.datetime.combine(a, dt.time(), tzinfo=b.tzinfo if isinstance(b, dt.datetime) else None)
    if not b_dt:
        b = dt.datetime.combine(b, dt.time(), tzinfo=a.tzinfo if isinstance(a, dt.datetime) else None)
    assert isinstance(a, dt.datetime) and isinstance(b, dt.datetime)
    if (a.tzinfo is None) != (b.tzinfo is None):
        raise ToolInputError("one datetime has a time-zone offset and the other has none",
                             hint="Give both with an offset (e.g. +00:00) or both without.")  # fmt: skip
    return a, b


def _working_days(start: dt.date, end: dt.date) -> int:
    """Monday-to-Friday days in [start, end) (negative when end is before start)."""
    if end < start:
        return -_working_days(end, start)
    days = (end - start).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    first = start.weekday()
    count += sum(1 for i in range(rest) if (first + i) % 7 < 5)
    return count


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if abs(n) == 1 else 's'}"


class DateTools:
    """Calendar tools for a model: date_add, date_diff and date_info."""

    def date_add(self, date: str, years: int = 0, months: int = 0, weeks: int = 0, days: int = 0,
                 hours: int = 0, minutes: int = 0, seconds: int = 0) -> dict[str, Any]:  # fmt: skip
        """Add a duration to an ISO date or datetime (negative numbers subtract), e.g.
        date="2024-01-31", months=1 -> 2024-02-29. Years and months are calendar months
        (a missing day becomes the month's last day); the rest are exact durations. Hours,
        minutes or seconds turn a date into a datetime. Also gives the result's weekday."""
        start = parse_when(date)
        when: When = start
        clamped = False
        try:
            if years or months:
                when, clamped = _add_months(when, years * 12 + months)
            if (hours or minutes or seconds) and not isinstance(when, dt.datetime):
                when = dt.datetime.combine(when, dt.time())
            when = when + dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        except ToolInputError:
            raise
        except (OverflowError, ValueError) as exc:
            raise ToolInputError(f"the result is outside the calendar (years 1..9999): {exc}") from None
        out: dict[str, Any] = {"date": _iso(when), "weekday": _WEEKDAYS[when.weekday()]}
        if clamped:
            out["note"] = (f"{start.day} does not exist in that month, so the month's last day "
                           f"({when.day}) was used")  # fmt: skip
        return out

    def date_diff(self, start: str, end: str) -> dict[str, Any]:
        """The time from start to end (ISO dates or datetimes): days (negative when end is
        earlier), weeks and days, years/months/days on the calendar, working days
        (Monday to Friday, end excluded), and both weekdays."""
        a, b = _same_kind(parse_when(start, "start"), parse_when(end, "end"))
        sign = -1 if b < a else 1
        lo, hi = (a, b) if sign > 0 else (b, a)
        total = hi - lo  # type: ignore[operator]  # both dates or both datetimes (_same_kind)
        months = (hi.year - lo.year) * 12 + (hi.month - lo.month)
        anchor, _ = _add_months(lo, months)
        if anchor > hi:
            months -= 1
            anchor, _ = _add_months(lo, months)
        rest = hi - anchor  # type: ignore[operator]
        years, months = divmod(months, 12)
        calendar_text = ", ".join([_plural(years, "year"), _plural(months, "month"), _plural(rest.days, "day")])
        out: dict[str, Any] = {
            "days": sign * total.days,
            "weeks_and_days": f"{'minus ' if sign < 0 else ''}{_plural(total.days // 7, 'week')}, {_plural(total.days % 7, 'day')}",
            "calendar": ("minus " if sign < 0 else "") + calendar_text,
            "working_days": _working_days(_date_of(a), _date_of(b)),
            "start_weekday": _WEEKDAYS[a.weekday()],
            "end_weekday": _WEEKDAYS[b.weekday()],
        }
        if isinstance(a, dt.datetime):
            seconds = sign * total.total_seconds()
            out["total_seconds"] = int(seconds) if seconds == int(seconds) else seconds
            out["total_hours"] = round(seconds / 3600, 6)
            if rest.seconds:
                out["calendar"] += f", {rest.seconds // 3600:02d}:{rest.seconds % 3600 // 60:02d}:{rest.seconds % 60:02d}"
        return out

    def date_info(self, date: str) -> dict[str, Any]:
        """Facts about an ISO date: weekday, ISO week, day of the year, quarter, days in
        its month, and whether its year is a leap year. "today" gives today's date."""
        when = parse_when(date)
        day = _date_of(when)
        iso = day.isocalendar()
        return {
            "date": _iso(when),
            "weekday": _WEEKDAYS[day.weekday()],
            "iso_week": f"{iso[0]}-W{iso[1]:02d}",
            "day_of_year": day.timetuple().tm_yday,
            "quarter": (day.month - 1) // 3 + 1,
            "days_in_month": calendar.monthrange(day.year, day.month)[1],
            "leap_year": calendar.isleap(day.year),
        }


def _date_of(when: When) -> dt.date:
    return when.date() if isinstance(when, dt.datetime) else when


date_tools = DateTools()
