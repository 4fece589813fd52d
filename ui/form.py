"""Form widgets generated from the rules of the config and the registry's specs.

A number field's kind and help (its range, in the words of the rule) come from its
:class:`~trainers.options.Rule` (``trainers.config.NUMBERS`` for config fields, a loss spec's
``options`` for loss options), so the Train page never restates a bound, and a loss's options
appear on the page as soon as its spec lists them. The widgets take any number: a value out
of range reaches the config's validation, which refuses the launch with its message (a
bounded widget would instead keep its last valid value and launch that, silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from trainers import registry
from trainers.config import NUMBERS
from trainers.options import Rule


def rule_help(rule: Rule, extra: str | None = None, *, label: str | None = None) -> str:
    """A widget's help: what the rule accepts (under the widget's ``label``), its hint, then ``extra``."""
    name = label or rule.label
    accepts = rule.describe().split(", or null")[0]  # a number field cannot be left empty
    parts = [f"{name[:1].upper()}{name[1:]}: {accepts}."]
    if rule.hint:
        parts.append(f"{rule.hint[:1].upper()}{rule.hint[1:]}.")
    if extra:
        parts.append(extra)
    return " ".join(parts)


def rule_input(where: Any, label: str, rule: Rule, *, key: str, help: str | None = None, **kw: Any) -> Any:
    """A checkbox (bool rules) or a number input bounded by ``rule``; ``kw`` passes on
    presentation (step, format, disabled)."""
    if rule.kind == "bool":
        return where.checkbox(label, key=key, help=rule_help(rule, help, label=label), disabled=kw.get("disabled", False))
    if rule.kind == "int":
        kw.setdefault("step", 1)
    return where.number_input(label, key=key, help=rule_help(rule, help, label=label), **kw)


def field_input(where: Any, field: str, label: str, *, key: str | None = None, help: str | None = None, **kw: Any) -> Any:
    """The widget of the config field ``field`` (a rule of trainers.config.NUMBERS)."""
    return rule_input(where, label, NUMBERS[field], key=key or f"train_{field}", help=help, **kw)


def option_key(loss: str, option: str) -> str:
    return f"train_option_{loss}_{option}"


def set_loss_options(loss: str, options: Mapping[str, Any]) -> None:
    """Fill the option widgets of ``loss`` with ``options``, the spec's defaults for the rest."""
    for k, r in registry.LOSSES[loss].options.items():
        v = options.get(k, r.default)
        st.session_state[option_key(loss, k)] = v if r.kind != "float" or v is None else float(v)


def loss_option_inputs(where: Any, loss: str, *, disabled: bool = False, help: str | None = None) -> None:
    """One widget per option of ``loss`` (nothing for a loss without options)."""
    spec = registry.LOSSES[loss]
    if not spec.options:
        where.caption(f"{loss} takes no options.")
        return
    cols = where.columns(min(2, len(spec.options)))
    for i, (k, r) in enumerate(spec.options.items()):
        if option_key(loss, k) not in st.session_state:
            set_loss_options(loss, {})
        extra = help if disabled else None
        if r.default is None:
            extra = " ".join(x for x in (extra, "Empty: the loss's own choice.") if x)
        rule_input(cols[i % len(cols)], k, r, key=option_key(loss, k), help=extra, disabled=disabled,
                   **({"format": "%g"} if r.kind == "float" else {}))


def loss_options_from_form(loss: str) -> dict[str, Any]:
    """The options of ``loss`` as the form holds them: those that differ from the spec's default."""
    out = {}
    for k, r in registry.LOSSES[loss].options.items():
        v = st.session_state.get(option_key(loss, k), r.default)
        if v is not None and v != r.default:
            out[k] = int(v) if r.kind == "int" else bool(v) if r.kind == "bool" else float(v)
    return out


SEEDS_KEY = "train_seeds"


def seeds_input(where: Any, *, disabled: bool = False) -> tuple[list[int] | None, str | None]:
    """The Train form's "Seeds" field: a list such as ``0,1,2`` or a range ``0-4`` repeats the
    launch once per seed, as one group. Returns ``(seeds, None)`` for a valid list, ``(None,
    None)`` when it is empty (one launch with the form's Seed), ``(None, message)`` when the
    text cannot be read (``analysis.seeds.parse_seeds``'s message)."""
    from analysis.seeds import MAX_SEEDS, parse_seeds

    text = where.text_input(
        "Seeds (repeat over)", key=SEEDS_KEY, disabled=disabled, placeholder="e.g. 0,1,2 or 0-4 · empty: the Seed above",
        help="Train the configuration (every run of a preset) once per seed, as one group: Compare and Runs then "
             f"show each metric as mean ± sd over the seeds. Whole numbers separated by commas, or ranges; at most "
             f"{MAX_SEEDS}. Empty: one run with the Seed field.")
    if not str(text or "").strip():
        return None, None
    try:
        return parse_seeds(text), None
    except ValueError as e:
        return None, str(e)
