"""Comparison with BEIR VII Table 12D-1 (LAR of incidence per 100,000 after 0.1 Gy).

``python -m doseline.risk.validation`` prints the ratio (doseline / BEIR VII) per sex, site
and age at exposure as a markdown table (the table in ``docs/risk.md`` was made this way).
"""

from __future__ import annotations

import csv
import sys
from importlib import resources

import numpy as np
import pandas as pd

from doseline.risk.baseline import Baseline
from doseline.risk.baseline_sources import load_baseline
from doseline.risk.models import BEIR7Model, CancerModel
from doseline.risk.projection import lar_cohort

__all__ = ["TABLE_12D1_AGES_Y", "compare_table12d1", "table12d1"]

#: Ages at exposure of BEIR VII Table 12D-1.
TABLE_12D1_AGES_Y = (0, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80)


def table12d1() -> pd.DataFrame:
    """BEIR VII Table 12D-1 as transcribed in ``data/risk/beir7_table12d1_lar_incidence.csv``."""
    text = (
        resources.files("doseline.data")
        .joinpath("risk", "beir7_table12d1_lar_incidence.csv")
        .read_text(encoding="utf-8")
    )
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    frame = pd.DataFrame(rows)
    frame["age_at_exposure_y"] = frame["age_at_exposure_y"].astype(int)
    frame["lar_per_100000"] = frame["lar_per_100000"].astype(float)
    return frame


def compare_table12d1(
    baseline: Baseline | None = None, model: CancerModel | None = None
) -> pd.DataFrame:
    """doseline's LAR (0.1 Gy to every organ, one exposure) next to Table 12D-1.

    Returns a frame with sex, site, age_at_exposure_y, beir7, doseline and ratio.
    """
    baseline = baseline or load_baseline()
    model = model or BEIR7Model()
    ages = np.array(TABLE_12D1_AGES_Y, dtype=np.float64)
    n = len(ages)
    sex = np.array(["male"] * n + ["female"] * n)
    result = lar_cohort(
        sex,
        np.concatenate([ages, ages])[:, None],
        {"whole_body": np.full((2 * n, 1), 0.1)},
        model=model,
        baseline=baseline,
    )
    reference = table12d1()
    values = []
    for sex_value, site, age in zip(
        reference.sex, reference.site, reference.age_at_exposure_y, strict=True
    ):
        index = TABLE_12D1_AGES_Y.index(int(age)) + (n if sex_value == "female" else 0)
        site_values = result.central.get(str(site))
        values.append(np.nan if site_values is None else float(site_values[index]))
    out = reference.rename(columns={"lar_per_100000": "beir7"})
    out["doseline"] = values
    out["ratio"] = out["doseline"] / out["beir7"]
    return out


def _markdown() -> str:
    frame = compare_table12d1()
    lines = []
    for sex in ("male", "female"):
        wide = frame[frame.sex == sex].pivot(
            index="site", columns="age_at_exposure_y", values="ratio"
        )
        order = [s for s in table12d1().query("sex == @sex").site.unique()]
        wide = wide.reindex(order)
        lines.append(f"\n{sex}: doseline / BEIR VII Table 12D-1\n")
        lines.append("| site | " + " | ".join(str(a) for a in wide.columns) + " |")
        lines.append("|---|" + "---|" * len(wide.columns))
        for site, row in wide.iterrows():
            cells = " | ".join("n/a" if not np.isfinite(v) else f"{v:.2f}" for v in row)
            lines.append(f"| {site} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(_markdown() + "\n")
