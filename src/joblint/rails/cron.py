"""The schedule-string validator: cron (5 or 6 fields) and Fugit's natural language.

Solid Queue (`schedule:`), GoodJob (`cron:`) and sidekiq-cron parse schedules with Fugit; a
string Fugit cannot turn into a `Fugit::Cron` is rejected when the scheduler boots. This module
accepts what Fugit accepts as far as a static check can tell: a full cron parser (fields,
lists, ranges, steps, month and day names, `L`, `#n`, `%n`, `~` random values, `@hourly`-style
shortcuts, a trailing time zone) and, for the natural forms (`every day at 9am`), a check that
every word belongs to Fugit::Nat's vocabulary and that the known-rejected shapes (`every 2
weeks`, `every 100 minutes`) are absent. When unsure it accepts: a false "invalid" is worse than
a missed typo.
"""

from __future__ import annotations

import re

from ..patterns import lazy_pattern

SHORTCUTS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@noon", "@hourly"}
)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
FULL_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
NAT_MAX_LENGTH = 256  # Fugit::Nat refuses longer input (fugit 1.11.1)

_TZ = lazy_pattern(
    r"^(?:[A-Z][A-Za-z0-9+\-_]*(?:/[A-Za-z0-9+\-_]+){1,2}|UTC|Z|GMT|[+-](?:[01]\d|2[0-4])(?::?(?:00|15|30|45))?)$"
)
_RANDOM = lazy_pattern(r"^\d*~\d*(?:/\d+)?$")


def schedule_problem(text: str) -> str | None:
    """None when Fugit would read `text` as a recurring schedule, else a short reason."""
    value = text.strip()
    if not value:
        return "the schedule is empty"
    if value.startswith("@"):
        return _shortcut_problem(value)
    tokens = value.split()
    if len(tokens) == 1 and re.match(r"^(\d+[YMWDhms])+$", value):
        return f"`{value}` is a duration, not a recurring schedule (write `every {value}`)"
    if tokens[0][0].isdigit() or tokens[0][0] in "*/,~-?":
        return cron_problem(value)
    if re.match(r"^(every|at|from|on)\b", value, re.IGNORECASE):
        return nat_problem(value)
    if len(tokens) in (5, 6, 7):
        return cron_problem(value)
    return "neither a cron expression (5 or 6 fields) nor a Fugit natural-language schedule"


def _shortcut_problem(value: str) -> str | None:
    tokens = value.split()
    if tokens[0].lower() not in SHORTCUTS:
        return f"`{tokens[0]}` is not a cron shortcut (@hourly, @daily, @weekly, @monthly, @yearly…)"
    if len(tokens) > 2 or (len(tokens) == 2 and not _TZ.match(tokens[1])):
        return "a cron shortcut may only be followed by a time zone"
    return None


# -- cron ------------------------------------------------------------------------------------

# (name, low, high, names) per field of a 5-field cron; a 6-field cron starts with seconds
_SECONDS = ("second", 0, 59, ())
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 24, ()),  # Fugit accepts 24 as midnight
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)


def cron_problem(value: str) -> str | None:
    tokens = value.split()
    if len(tokens) >= 6 and _TZ.match(tokens[-1]) and not _is_field_like(tokens[-1]):
        tokens = tokens[:-1]
    if len(tokens) not in (5, 6):
        return f"a cron expression has 5 or 6 fields, this one has {len(tokens)}"
    fields = (_SECONDS,) + _FIELDS if len(tokens) == 6 else _FIELDS
    expanded: dict[str, set[int] | None] = {}
    for token, field in zip(tokens, fields):
        values, problem = _field_values(token, field)
        if problem:
            return f"{field[0]} field `{token}`: {problem}"
        expanded[field[0]] = values
    return _impossible_date(expanded.get("day of month"), expanded.get("month"))


def _is_field_like(token: str) -> bool:
    lowered = token.lower()
    return bool(re.match(r"^[\d*/,~\-#%+l]+$", lowered)) or any(
        name in lowered for name in MONTHS + DAYS
    )


def _field_values(token: str, field: tuple) -> tuple[set[int] | None, str | None]:  # type: ignore[type-arg]
    """The values a field names (None for `*` or values that are not plain numbers)."""
    name, low, high, names = field
    values: set[int] | None = set()
    for item in token.split(","):
        if not item:
            continue  # Fugit skips empty list items (`9,,19`)
        if _RANDOM.match(item):
            values = None
            continue
        base, _, step = item.partition("/")
        if "/" in item and (not step.isdigit() or int(step[:18]) == 0):
            return None, f"`/{step}` is not a positive step"
        if base in ("*", ""):
            values = None
            continue
        if name == "day of week" and re.match(r"^[a-z0-9]+(#(-?\d|l|last)|%\d+(\+\d+)?)$", base, re.IGNORECASE):
            base = re.split(r"[#%]", base)[0]
        if name == "day of month" and base.lower() in ("l", "last"):
            values = None
            continue
        bounds = _range_bounds(base, name)
        if bounds is None:
            return None, f"`{item}` is not a value, range or step"
        for bound in bounds:
            number = _number(bound, names)
            if number is None:
                return None, f"`{bound}` is not a {name}"
            if name == "day of month" and number < 0:
                if number < -31:
                    return None, f"{number} is out of range"
                values = None
                continue
            if not low <= number <= high:
                return None, f"{number} is out of range {low}-{high}"
        if values is not None and len(bounds) == 1 and "/" not in item:
            values.add(_number(bounds[0], names))  # type: ignore[arg-type]
        elif values is not None and len(bounds) == 2 and "/" not in item:
            first, last = (_number(b, names) for b in bounds)
            values |= _wrap_range(first, last, low, high)  # type: ignore[arg-type]
        else:
            values = None
    return values, None


def _range_bounds(base: str, name: str) -> list[str] | None:
    if name == "day of month":  # negative days: `-7--1`, `-7-L`, `25-l`
        match = re.match(r"^(-?\w+)(?:-(-?\w+))?$", base)
    else:
        match = re.match(r"^(\w+)(?:-(\w+))?$", base)
    if match is None:
        return None
    bounds = [match.group(1)] + ([match.group(2)] if match.group(2) else [])
    return [b for b in bounds if b.lower() not in ("l", "last")] or [bounds[0]]


def _number(text: str, names: tuple[str, ...]) -> int | None:
    if re.match(r"^-?\d+$", text):
        return int(text) if len(text) <= 18 else None  # thousands of digits: no real value
    lowered = text.lower()
    for index, name in enumerate(names):
        if lowered == name or (names is DAYS and lowered == FULL_DAYS[index]):
            return index + 1 if names is MONTHS else index
    return None


def _wrap_range(first: int, last: int, low: int, high: int) -> set[int]:
    if first <= last:
        return set(range(first, last + 1))
    return set(range(first, high + 1)) | set(range(low, last + 1))  # `11-2` wraps around


def _impossible_date(days: set[int] | None, months: set[int] | None) -> str | None:
    """`30 2` (February 30th): Fugit rejects a day of month that no listed month has."""
    if not days or not months:
        return None
    if any(day <= DAYS_IN_MONTH[month - 1] for day in days for month in months if 1 <= month <= 12):
        return None
    return "no listed month has that day of month"


# -- natural language (Fugit::Nat) -----------------------------------------------------------

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty"]
_ORDINAL_WORDS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth", "thirtieth"]
_UNITS = {
    "second", "seconds", "sec", "secs", "s", "minute", "minutes", "min", "mins", "m",
    "hour", "hours", "hou", "h", "day", "days", "d", "week", "month", "months", "year", "M",
}
_WORDS = {
    "every", "at", "on", "in", "from", "to", "through", "and", "or", "the", "of", "starting",
    "weekday", "noon", "midnight", "midday", "am", "pm", "dark", "oh", "o'clock", "hundred",
    "last", "day", "days", "minute", "hour",
}
_TIME = lazy_pattern(r"^(?:2[0-4]|[01]?\d)(?::[0-5]\d)?(?:am|pm|noon|midday|midnight)?$", re.IGNORECASE)
_ORDINAL = lazy_pattern(r"^(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)$", re.IGNORECASE)
_INTERVAL = lazy_pattern(r"^\d+(?:s|m|h|d|M|sec|min)$")


def nat_problem(value: str) -> str | None:
    if len(value) > NAT_MAX_LENGTH:
        return f"natural-language schedules are limited to {NAT_MAX_LENGTH} characters"
    if re.search(r"\bevery\s+([2-9]|\d\d+)\s*(weeks?|years?)\b", value, re.IGNORECASE):
        return "Fugit has no `every N weeks` or `every N years` (use a cron expression)"
    if re.search(r"\bevery\s+\d{3,}", value, re.IGNORECASE):
        return "Fugit reads at most two digits after `every`"
    for token in re.split(r"[\s,]+", value.strip()):
        if token and not _nat_word(token):
            return f"`{token}` is not a word Fugit's natural-language parser knows"
    return None


def _nat_word(token: str) -> bool:
    lowered = token.lower()
    if token in _UNITS or lowered in _UNITS or lowered in _WORDS:
        return True
    if _TIME.match(token) or _ORDINAL.match(token) or _INTERVAL.match(token) or _TZ.match(token):
        return True
    if re.match(r"^\d{1,2}$", token):
        return True
    parts = lowered.split("-")
    if all(p in _NUMBER_WORDS for p in parts) or all(p in _ORDINAL_WORDS for p in parts):
        return True  # `twenty-five`, `twenty-first`
    if lowered in _ORDINAL_WORDS or lowered in _NUMBER_WORDS:
        return True
    days = FULL_DAYS + DAYS
    return all(p in days for p in parts if p)  # `mon-thu`
