"""Tables of final metrics, one row per run: with the best value of each column marked, and the
last alignment and uniformity of each run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from analysis.compare import best_per_column, metric_goal
from jobs import store as stmod

BEST_STYLE = "font-weight: 700; background-color: rgba(46, 160, 67, 0.22)"


def best_marked_table(names: Sequence[str], metrics: Sequence[dict[str, Any]], columns: dict[str, str], *,
                      key: str, leading: dict[str, Sequence[Any]] | None = None) -> pd.DataFrame:
    """Show one row per run (``names``) with the metric columns ``columns`` (metric key -> header).

    Columns no run has are dropped. With two runs or more, the best value of each column
    (rule: ``analysis.compare.best_per_column``) is shown bold on green, and the column
    "best in" lists the columns each run wins. ``leading``: extra text columns placed
    after the run name. The run column is pinned (it stays in view when the table scrolls
    sideways) and wide enough for whole names. Returns the frame shown (without the styling).
    """
    table = {k: [m.get(k) for m in metrics] for k in columns if any(m.get(k) is not None for m in metrics)}
    best = best_per_column(table) if len(names) > 1 else {}  # one run: nothing to compare
    wins = [[columns[k] for k, i in best.items() if i == row] for row in range(len(names))]
    df = pd.DataFrame({
        "run": list(names),
        **{k: list(v) for k, v in (leading or {}).items()},
        **{columns[k]: pd.to_numeric(pd.Series(v, dtype="object"), errors="coerce") for k, v in table.items()},
        "best in": [", ".join(w) for w in wins],
    })

    def mark(col: pd.Series) -> list[str]:
        keys = [k for k in table if columns[k] == col.name]
        if not keys or keys[0] not in best:
            return [""] * len(col)
        return [BEST_STYLE if i == best[keys[0]] else "" for i in range(len(col))]

    styler = df.style.apply(mark, axis=0).format(precision=3, na_rep="–", subset=[columns[k] for k in table])
    st.dataframe(styler, hide_index=True, width="stretch", key=key, column_config={
        "run": st.column_config.TextColumn("run", pinned=True, width="medium"),
        **{columns[k]: st.column_config.NumberColumn(width="small") for k in table},  # the metrics fit beside the names
        **{c: st.column_config.TextColumn(width="small") for c in (leading or {})},
    })
    if not best:
        return df
    ups = [columns[k] for k in table if metric_goal(k) == "max"]
    downs = [columns[k] for k in table if metric_goal(k) == "min"]
    st.caption("Best value per column in **bold on green**" + (f" · higher is better: {', '.join(ups)}" if ups else "")
               + (f" · lower is better: {', '.join(downs)}" if downs else "") + ".")
    return df


def alignment_uniformity_rows(runs: Sequence[stmod.RunRecord], frames: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """One row per run that has alignment and uniformity (``frames``: run id -> metrics over
    epochs): its last snapshot's epoch, alignment, uniformity and kNN accuracy."""
    rows = []
    for r in runs:
        df = frames[r.id]
        if df.empty or "uniformity" not in df:
            continue
        last = df.iloc[-1]
        rows.append({"run": r.name, "epoch": int(last["epoch"]), "alignment": last["alignment"],
                     "uniformity": last["uniformity"], "kNN acc": last.get("knn_accuracy")})
    return rows
