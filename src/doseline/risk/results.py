"""The immutable results of a lifetime-attributable-risk calculation for one person."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from doseline.risk.baseline import FloatArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["LARResult", "one_in"]


def one_in(per_100000: float) -> str:
    """``"1 in N"`` for a risk per 100,000, N to two significant figures."""
    if not per_100000 > 0 or not math.isfinite(per_100000):
        return "no measurable risk"
    rounded = float(f"{1e5 / per_100000:.2g}")
    return f"1 in {rounded:,.0f}" if rounded >= 10 else f"1 in {rounded:g}"


@dataclass(frozen=True)
class LARResult:
    """Lifetime attributable risk (LAR) of one person, per site, with its uncertainty.

    Attributes
    ----------
    model, baseline, sex, outcome
        What was computed (``outcome`` is ``incidence`` or ``mortality``).
    exposures
        (age at exposure in years, organ -> dose in Gy) for each exposure.
    lar_per_100000
        Central LAR per site, ``all_solid`` and ``all_cancer`` (NaN where the baseline has
        no rates for the site).
    lbr_per_100000
        Lifetime baseline risk from the age at first exposure, per site.
    draws
        Monte Carlo LAR draws per site (None without uncertainty).
    by_attained_age
        Tidy frame: site, attained_age_y, excess_per_100000 (central estimate, per year).
    """

    model: str
    baseline: str
    sex: str
    outcome: str
    exposures: tuple[tuple[float, Mapping[str, float]], ...]
    lar_per_100000: Mapping[str, float]
    lbr_per_100000: Mapping[str, float]
    by_attained_age: pd.DataFrame
    draws: Mapping[str, FloatArray] | None = None
    seed: int | None = None
    notes: tuple[str, ...] = field(default=())
    endpoint: str = "cancer"
    total: str = "all_cancer"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lar_per_100000", MappingProxyType(dict(self.lar_per_100000)))
        object.__setattr__(self, "lbr_per_100000", MappingProxyType(dict(self.lbr_per_100000)))
        if self.draws is not None:
            for values in self.draws.values():
                values.setflags(write=False)
            object.__setattr__(self, "draws", MappingProxyType(dict(self.draws)))

    @property
    def params(self) -> pd.Series:
        """Central LAR per 100,000 by site."""
        return pd.Series(dict(self.lar_per_100000), name="lar_per_100000")

    def conf_int(self, alpha: float = 0.10) -> pd.DataFrame:
        """Monte Carlo ``1 - alpha`` interval per site (lower, upper), per 100,000."""
        if self.draws is None:
            raise ValueError("no uncertainty draws: compute with draws > 0")
        rows = {
            site: np.quantile(values, [alpha / 2, 1 - alpha / 2])
            for site, values in self.draws.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])

    @property
    def summary_frame(self) -> pd.DataFrame:
        """One row per site: LAR, median and 90 % interval, baseline risk and their ratio."""
        frame = pd.DataFrame(
            {
                "lar_per_100000": pd.Series(dict(self.lar_per_100000)),
                "lbr_per_100000": pd.Series(dict(self.lbr_per_100000)),
            }
        )
        frame["lar_to_lbr"] = frame["lar_per_100000"] / frame["lbr_per_100000"]
        if self.draws is not None:
            ci = self.conf_int(0.10)
            frame["median_per_100000"] = pd.Series(
                {s: float(np.median(v)) for s, v in self.draws.items()}
            )
            frame["lower_90_per_100000"] = ci["lower"]
            frame["upper_90_per_100000"] = ci["upper"]
        frame.index.name = "site"
        return frame

    def plain_language(self) -> str:
        """The total in words: "about 1 in N over a lifetime, against a baseline of 1 in M"."""
        total = self.lar_per_100000[self.total]
        base = self.lbr_per_100000.get(self.total, math.nan)
        verb = "getting" if self.outcome == "incidence" else "dying of"
        what = f"{verb} {self.endpoint}"
        return (
            f"The added lifetime risk of {what} from these exposures is about "
            f"{one_in(total)} over a lifetime, against a baseline of {one_in(base)}."
        )

    def summary(self) -> str:
        """Text summary: header, the per-site table and the plain-language sentence."""
        head = (
            f"Lifetime attributable risk of {self.endpoint} {self.outcome} ({self.model}, baseline "
            f"{self.baseline}, {self.sex}, {len(self.exposures)} exposure(s))"
        )
        table = self.summary_frame.round(2).to_string()
        return "\n".join([head, table, self.plain_language(), *self.notes])

    def summary_html(self) -> str:
        """HTML summary (the same content as :meth:`summary`)."""
        notes = "".join(f"<p>{n}</p>" for n in self.notes)
        return (
            f"<h3>Lifetime attributable risk ({self.model}, {self.baseline}, {self.sex})</h3>"
            f"{self.summary_frame.round(2).to_html()}<p>{self.plain_language()}</p>{notes}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN as None)."""

        def clean(value: float) -> float | None:
            return None if not math.isfinite(value) else round(float(value), 4)

        out: dict[str, Any] = {
            "model": self.model,
            "baseline": self.baseline,
            "sex": self.sex,
            "outcome": self.outcome,
            "exposures": [
                {"age_at_exposure_y": age, "organ_dose_gy": dict(doses)}
                for age, doses in self.exposures
            ],
            "lar_per_100000": {s: clean(v) for s, v in self.lar_per_100000.items()},
            "lbr_per_100000": {s: clean(v) for s, v in self.lbr_per_100000.items()},
            "plain_language": self.plain_language(),
            "notes": list(self.notes),
        }
        if self.draws is not None:
            frame = self.summary_frame
            out["draws"] = len(next(iter(self.draws.values())))
            out["seed"] = self.seed
            out["median_per_100000"] = {s: clean(v) for s, v in frame["median_per_100000"].items()}
            out["interval_90_per_100000"] = {
                s: [clean(lo), clean(hi)]
                for s, lo, hi in zip(
                    frame.index,
                    frame["lower_90_per_100000"],
                    frame["upper_90_per_100000"],
                    strict=True,
                )
            }
        return out

    def plot(self, ax: Axes | None = None) -> Axes:
        """Cumulative excess risk per 100,000 by attained age, in total and the top sites."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        frame = self.by_attained_age
        wide = frame.pivot(index="attained_age_y", columns="site", values="excess_per_100000")
        cumulative = wide.cumsum()
        top = cumulative.iloc[-1].drop([self.total, "all_solid"], errors="ignore")
        ax.plot(cumulative.index, cumulative[self.total], color="black", lw=2, label="all")
        for site in top.sort_values(ascending=False).index[:4]:
            ax.plot(cumulative.index, cumulative[site], lw=1, label=site)
        ax.set_xlabel("attained age (years)")
        ax.set_ylabel(f"cumulative excess {self.outcome} per 100,000")
        ax.set_title(f"{self.model}: {one_in(self.lar_per_100000[self.total])} over a lifetime")
        ax.legend(frameon=False)
        return ax
