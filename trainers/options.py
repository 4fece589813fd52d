"""Rules for the numbers of a configuration, and the messages that refuse a bad value.

A :class:`Rule` says how one number (a config field or a loss option) is checked and
described; :func:`check_value` applies it and raises :class:`ConfigError` (a
``ValueError``) whose message names the field, shows the value as the user wrote it and
says what to write instead. Standard library only: the catalogue (trainers.registry) and
the config (trainers.config) build on it, and the app's server imports both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_SEED = 2**32 - 1  # numpy's seed range (torch accepts it too)


class ConfigError(ValueError):
    """A configuration that cannot run; the message says what to change."""


@dataclass(frozen=True)
class Rule:
    """How one number (a field or a loss option) is checked and described in messages."""

    label: str  # words for the message
    lo: float
    hi: float
    kind: str = "float"  # "float" | "int" | "bool" (bool: lo and hi unused)
    lo_open: bool = False  # True: lo itself is refused
    rule: str = ""  # how a message states the range; default "a number in [lo, hi]"
    hint: str = ""  # added to an out-of-range message
    default: Any = None  # loss options: the value used when the option is absent

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.rule:
            return self.rule
        what = "an integer" if self.kind == "int" else "a number"
        return f"{what} in {'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}]"


def _fmt(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _short(v: Any) -> str:
    try:
        s = json.dumps(v, allow_nan=True)
    except (TypeError, ValueError):
        s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def describe(v: Any) -> str:
    """A value as a message shows it: its JSON spelling and, where it helps, its kind."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"{'true' if v else 'false'} (a boolean)"
    if isinstance(v, str):
        return f"{_short(v)} (text)"
    if isinstance(v, int):
        return str(v) if abs(v) < 10**30 else f"an integer of {len(str(abs(v)))} digits"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return f"{_short(v)} (a list)"
    if isinstance(v, dict):
        return f"{_short(v)} (an object)"
    return f"{_short(v)} (a {type(v).__name__})"


def _type_fix(v: Any, rule: Rule) -> str:
    """How to write a value of the wrong type correctly."""
    if rule.kind == "bool":
        return "write true or false, without quotes" if isinstance(v, str) and v.lower() in ("true", "false") else ""
    whole = rule.kind == "int"
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return "write a whole number" if whole else "write a number"
        if math.isfinite(x) and (not whole or x.is_integer()):
            return f"write {v.strip()} without quotes"
        return "write a whole number" if whole else "write a finite number"
    if isinstance(v, bool):
        return "write a number, not true or false"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "write a finite number"
        return f"write {int(v)} (an integer, no decimal point)" if v.is_integer() else "write a whole number"
    return "write a number" if v is None else "write a single number"


def check_value(where: str, v: Any, rule: Rule) -> Any:
    """``v`` checked against ``rule`` (``where`` names it in the message); ints become floats
    for number rules. Raises ConfigError saying what is wrong and how to write it."""
    ok_type = isinstance(v, bool) if rule.kind == "bool" else (
        isinstance(v, int) and not isinstance(v, bool) if rule.kind == "int" else
        isinstance(v, (int, float)) and not isinstance(v, bool) and (not isinstance(v, float) or math.isfinite(v)))
    if not ok_type:
        fix = _type_fix(v, rule)
        raise ConfigError(f"{where} must be {rule.describe()}, got {describe(v)}" + (f": {fix}" if fix else ""))
    if rule.kind == "bool":
        return v
    inside = (rule.lo < v if rule.lo_open else rule.lo <= v) and v <= rule.hi
    if not inside:
        raise ConfigError(f"{where} must be {rule.describe()}, got {describe(v)}" + (f"; {rule.hint}" if rule.hint else ""))
    return v if rule.kind == "int" else float(v)
