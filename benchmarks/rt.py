"""DVH speed and accuracy: doseline against dicompyler-core on its own example plan.

    python benchmarks/rt.py [--repeats 3] [--bench-venv .bench-venv] [--no-dicompyler]

On the dicompyler-core example plan (../shared/data/rt/dicompyler_core_example, 9 non-empty
ROIs, 194 x 129 x 98 dose grid) it measures in this one command:

- dicompyler-core 0.5.6 ``dvhcalc.get_dvh`` with default options for every ROI, run in a
  separate virtual environment (it needs pydicom < 3; created with pip on first use under
  ``--bench-venv``), timed inside that process on Datasets read beforehand;
- doseline ``compute_dvhs`` at several in-plane supersampling settings, timed after one warm-up
  call (numba compilation is cached on disk; the first-call time is printed too);
- a reference: doseline at supersample 12 and 6 sub-slabs per slab (same slab convention as
  dicompyler-core), against which both are scored: relative error of volume and mean dose,
  absolute error of D2% and D98% (Gy), worst over ROIs of 10 cm3 and more and over all ROIs.

It prints times, the speed ratio to dicompyler-core, and the errors. Figures depend on the
machine; the ratios measured in the same run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO.parent / "shared" / "data" / "rt" / "dicompyler_core_example"
DICOMPYLER_PINS = ["dicompyler-core==0.5.6", "pydicom>=2.4,<3", "matplotlib", "numpy"]

_DICOMPYLER_SCRIPT = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pydicom
from dicompylercore import dvhcalc
rtss = pydicom.dcmread(sys.argv[1]); rtdose = pydicom.dcmread(sys.argv[2])
repeats = int(sys.argv[3])
rois = [int(i.ROINumber) for i in rtss.StructureSetROISequence]
out = {}
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    results = {roi: dvhcalc.get_dvh(rtss, rtdose, roi) for roi in rois}
    best = min(best, time.perf_counter() - start)
for roi, d in results.items():
    if d.volume <= 0:
        continue
    out[roi] = {"volume_cm3": float(d.volume), "mean_gy": float(d.mean),
                "max_gy": float(d.max), "min_gy": float(d.min),
                "d2_gy": float(d.D2.value), "d98_gy": float(d.D98.value)}
print(json.dumps({"seconds": best, "rois": out}))
"""


def ensure_bench_venv(venv: Path) -> Path:
    """The Python of a virtual environment with dicompyler-core (created on first use)."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import dicompylercore, pydicom; assert pydicom.__version__ < '3'"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with {' '.join(DICOMPYLER_PINS)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *DICOMPYLER_PINS], check=True)
    return python


def run_dicompyler(python: Path, repeats: int) -> dict[str, Any]:
    """dicompyler-core's DVHs of all ROIs, timed inside its own process."""
    result = subprocess.run(
        [str(python), "-c", _DICOMPYLER_SCRIPT, str(EXAMPLE / "rtss.dcm"),
         str(EXAMPLE / "rtdose.dcm"), str(repeats)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    data["rois"] = {int(k): v for k, v in data["rois"].items()}
    return data


def run_doseline(settings: Any, repeats: int) -> tuple[float, float, dict[int, dict[str, float]]]:
    """(first-call seconds, best seconds, metrics per ROI) of doseline's DVHs of all ROIs."""
    from doseline.dicom.rt_dose import read_rt_dose
    from doseline.dicom.rt_struct import read_rt_structure_set
    from doseline.dosimetry.rt.dvh import compute_dvhs

    dose = read_rt_dose(EXAMPLE / "rtdose.dcm")
    structures = read_rt_structure_set(EXAMPLE / "rtss.dcm")
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats + 1):
            start = time.perf_counter()
            dvhs = compute_dvhs(dose, structures, settings=settings)
            times.append(time.perf_counter() - start)
    metrics = {
        dvh.roi_number: {
            "volume_cm3": dvh.volume_cm3, "mean_gy": dvh.mean_gy, "max_gy": dvh.max_gy,
            "min_gy": dvh.min_gy, "d2_gy": dvh.d2_gy, "d98_gy": dvh.d98_gy,
        }
        for dvh in dvhs
    }  # fmt: skip
    return times[0], min(times[1:] or times), metrics


def errors(
    found: dict[int, dict[str, float]], reference: dict[int, dict[str, float]]
) -> dict[str, float]:
    """Worst errors against the reference, over ROIs >= 10 cm3 and over all ROIs."""
    out: dict[str, float] = {}
    for label, minimum in (("big", 10.0), ("all", 0.0)):
        rois = [roi for roi, ref in reference.items() if ref["volume_cm3"] >= minimum]
        out[f"volume_{label}"] = max(
            abs(found[r]["volume_cm3"] / reference[r]["volume_cm3"] - 1) for r in rois
        )
        out[f"mean_{label}"] = max(abs(found[r]["mean_gy"] / reference[r]["mean_gy"] - 1)
                                   for r in rois)  # fmt: skip
        out[f"d2_{label}"] = max(abs(found[r]["d2_gy"] - reference[r]["d2_gy"]) for r in rois)
        out[f"d98_{label}"] = max(abs(found[r]["d98_gy"] - reference[r]["d98_gy"]) for r in rois)
    return out


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bench-venv", type=Path, default=REPO / ".bench-venv")
    parser.add_argument("--no-dicompyler", action="store_true")
    parser.add_argument(
        "--dump-dicompyler", action="store_true", help="Also print dicompyler-core's metrics."
    )
    args = parser.parse_args()
    if not (EXAMPLE / "rtdose.dcm").exists():
        sys.exit(f"example plan not found under {EXAMPLE}")
    from doseline.dosimetry.rt.dvh import DVHSettings

    _, _, reference = run_doseline(DVHSettings(supersample=12, z_supersample=6), 0)
    rows: list[tuple[str, float, float | None, dict[str, float]]] = []
    baseline: float | None = None
    if not args.no_dicompyler:
        compyler = run_dicompyler(ensure_bench_venv(args.bench_venv), args.repeats)
        baseline = float(compyler["seconds"])
        if args.dump_dicompyler:
            print(json.dumps(compyler["rois"], indent=1))
        rows.append(("dicompyler-core 0.5.6 default", baseline, None,
                     errors(compyler["rois"], reference)))  # fmt: skip
    for n, m in ((1, 1), (2, 1), (4, 1), (4, 3)):
        first, best, metrics = run_doseline(DVHSettings(supersample=n, z_supersample=m),
                                            args.repeats)  # fmt: skip
        name = f"doseline supersample={n}" + (f" z={m}" if m > 1 else "")
        rows.append((name, best, first, errors(metrics, reference)))
    print(f"DVHs of all {len(reference)} non-empty ROIs of the dicompyler-core example plan")
    print("reference: doseline supersample=12, z_supersample=6 (dicompyler slab convention)")
    print(f"{'method':<32} {'time s':>8} {'x faster':>9} {'first s':>8} | worst error vs "
          "reference, ROIs >= 10 cm3 / all ROIs")  # fmt: skip
    for name, seconds, first_call, err in rows:
        ratio = f"{baseline / seconds:9.1f}" if baseline else f"{'-':>9}"
        first_text = f"{first_call:8.3f}" if first_call is not None else f"{'-':>8}"
        print(
            f"{name:<32} {seconds:8.3f} {ratio} {first_text} | "
            f"volume {100 * err['volume_big']:.2f}% / {100 * err['volume_all']:.1f}%, "
            f"mean {100 * err['mean_big']:.2f}% / {100 * err['mean_all']:.1f}%, "
            f"D2 {err['d2_big']:.3f} / {err['d2_all']:.3f} Gy, "
            f"D98 {err['d98_big']:.3f} / {err['d98_all']:.3f} Gy"
        )


if __name__ == "__main__":
    main()
