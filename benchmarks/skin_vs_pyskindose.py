"""Peak skin dose: doseline against PySkinDose 25.1.1 on PySkinDose's own example RDSRs.

    python benchmarks/skin_vs_pyskindose.py [--bench-python .bench-venv/bin/python]
        [--data ../shared/data/rdsr/pyskindose] [--write-reference tests/data/...csv]

For each of the four files of ``../shared/data/rdsr/pyskindose`` it runs, in this command:

- PySkinDose 25.1.1 (installed in the gitignored ``.bench-venv``, never a dependency of
  doseline) with its example settings (``load_settings_example_json()``: cylinder phantom,
  ``estimate_k_tab`` with ``k_tab_val`` 0.8, inherent filtration 3.1 mm Al) and
  ``mode="calculate_dose"``, timed inside its own process from reading the file to the dose
  map (imports excluded; run in a temporary folder, after one untimed run that builds its
  corrections database there);
- doseline :func:`~doseline.dosimetry.fluoro.skin.skin_dose_from_file` twice: with its
  defaults, and with PySkinDose-equivalent settings (PySkinDose's point grid, water medium,
  constant table transmission 0.8, PySkinDose's sign of the Siemens secondary angle). Each is
  timed on a first call (spectrum cache cleared; SpekPy runs once per beam quality) and on a
  repeat call (spectra cached).

It prints both PSDs, their ratio and the times with their ratio; then, for the Siemens example
procedure, the PSD after each step from the PySkinDose-equivalent settings to the defaults,
which is how the differences are explained in docs/skin_dose.md. ``--write-reference``
writes PySkinDose's per-file and per-event figures to the CSV the tests read.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "rdsr" / "pyskindose"
FILES = (
    "siemens_axiom_example_procedure.dcm",
    "siemens_axiom_artis.dcm",
    "philips_allura_clarity_u104.dcm",
    "philips_allura_clarity_u601.dcm",
)

_PYSKINDOSE_SCRIPT = r"""
import json, logging, os, sys, time
os.environ["TQDM_DISABLE"] = "1"
logging.disable(logging.WARNING)
import numpy as np
from pyskindose import load_settings_example_json, constants as c
from pyskindose.settings import PyskindoseSettings
from pyskindose.helpers.read_and_normalize_rdsr_data import read_and_normalise_rdsr_data
from pyskindose.helpers.calculate_rotation_matrices import calculate_rotation_matrices
from pyskindose.calculate_dose.calculate_dose import calculate_dose
from pyskindose.phantom_class import Phantom
settings = load_settings_example_json()
settings["mode"] = "calculate_dose"
settings["plot"]["notebook_mode"] = False
st = PyskindoseSettings(settings=settings, output_format="dict")
start = time.perf_counter()
out = {"file": os.path.basename(sys.argv[1])}
try:
    data = read_and_normalise_rdsr_data(rdsr_filepath=sys.argv[1], settings=st)
    table = Phantom(phantom_model="table", phantom_dim=st.phantom.dimension)
    pad = Phantom(phantom_model="pad", phantom_dim=st.phantom.dimension)
    data = calculate_rotation_matrices(data)
    patient, res = calculate_dose(normalized_data=data, settings=st, table=table, pad=pad)
    out["seconds"] = time.perf_counter() - start
    out["psd_mgy"] = float(np.max(res[c.OUTPUT_KEY_DOSE_MAP]))
    out["sum_k_irp_mgy"] = float(data.K_IRP.sum())
    events = []
    for e in range(len(data)):
        hits = np.asarray(res[c.OUTPUT_KEY_HITS][e], dtype=bool)
        n = int(hits.sum())
        kbs = res[c.OUTPUT_KEY_CORRECTION_BACK_SCATTER][e]
        kisq = res[c.OUTPUT_KEY_CORRECTION_INVERSE_SQUARE_LAW][e]
        events.append({"event": e + 1, "n_cells_hit": n,
                       "hvl_mm_al": float(data.HVL[e]),
                       "k_isq_max": float(np.max(kisq)) if n else None,
                       "k_bs_mean": float(np.mean(kbs)) if n else None,
                       "k_med": float(res[c.OUTPUT_KEY_CORRECTION_MEDIUM][e]) if n else None})
    out["events"] = events
except Exception as error:  # PySkinDose fails on some files; report, do not hide
    out["seconds"] = time.perf_counter() - start
    out["error"] = f"{type(error).__name__}: {error}"
print(json.dumps(out))
"""


def run_pyskindose(python: Path, path: Path, workdir: Path) -> dict[str, Any]:
    """PySkinDose's PSD and per-event figures for one file (in its own interpreter).

    Run in ``workdir``: PySkinDose writes its corrections database (``corrections.db``) to the
    working directory on first use.
    """
    done = subprocess.run(
        [str(python), "-c", _PYSKINDOSE_SCRIPT, str(path.resolve())],
        capture_output=True, text=True, check=True, timeout=600, cwd=workdir,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def pyskindose_like_settings(path: Path) -> Any:
    """doseline settings that reproduce PySkinDose's example run (see the module docstring)."""
    from doseline.dicom.rdsr import read_rdsr
    from doseline.dosimetry.fluoro.skin import DEVICE_PROFILES, SkinDoseSettings
    from doseline.dosimetry.fluoro.skin_factors import TableTransmission
    from doseline.dosimetry.fluoro.skin_phantom import pyskindose_sparse_cylinder

    report = read_rdsr(path)
    key = ((report.device.manufacturer or "").lower(), (report.device.model_name or "").lower())
    device = DEVICE_PROFILES.get(key)
    if device is not None and key[0] == "siemens":
        device = replace(device, secondary_angle_sign=-1.0)
    return SkinDoseSettings(
        surface=pyskindose_sparse_cylinder(), device=device, medium="water",
        table=TableTransmission(constant=0.8),
    )  # fmt: skip


def time_doseline(path: Path, settings: Any) -> tuple[float | None, float, float]:
    """PSD (mGy) and first-call / repeat-call seconds."""
    from doseline.dosimetry.fluoro.skin import skin_dose_from_file
    from doseline.dosimetry.fluoro.skin_factors import beam_quality

    beam_quality.cache_clear()
    start = time.perf_counter()
    result = skin_dose_from_file(path, settings)
    first = time.perf_counter() - start
    start = time.perf_counter()
    skin_dose_from_file(path, settings)
    repeat = time.perf_counter() - start
    psd = None if result.psd_gy is None else result.psd_gy * 1000.0
    return psd, first, repeat


def _fmt(value: float | None, spec: str = "8.3f") -> str:
    return f"{'-':>8s}" if value is None else format(value, spec)


def steps(path: Path) -> None:
    """PSD after each change from PySkinDose-equivalent settings to doseline's defaults."""
    from doseline.dosimetry.fluoro.skin import SkinDoseSettings, skin_dose_from_file
    from doseline.dosimetry.fluoro.skin_factors import TableTransmission
    from doseline.dosimetry.fluoro.skin_phantom import elliptic_cylinder

    s = pyskindose_like_settings(path)
    default = SkinDoseSettings()
    chain = [
        ("PySkinDose-equivalent settings", s),
        ("+ 10 mm arc-length cells", s := replace(s, surface=elliptic_cylinder())),
        ("+ DICOM secondary angle sign", s := replace(s, device=None)),
        ("+ medium skin (ICRU 46) not water", s := replace(s, medium="skin")),
        ("+ table 12.5 mm PMMA-eq. not 0.8", s := replace(s, table=TableTransmission())),
        ("= doseline defaults", default),
    ]
    print(f"\nsteps on {path.name} (PSD mGy):")
    for label, settings in chain:
        r = skin_dose_from_file(path, settings)
        print(f"  {label:36s} {_fmt(None if r.psd_gy is None else r.psd_gy * 1000)}")


def write_reference(rows: list[dict[str, Any]], target: Path) -> None:
    """PySkinDose's figures, one row per event (file-level columns repeated)."""
    columns = ["file", "pyskindose_psd_mgy", "sum_k_irp_mgy", "error", "event", "n_cells_hit",
               "hvl_mm_al", "k_isq_max", "k_bs_mean", "k_med"]  # fmt: skip
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            base = {
                "file": r["file"],
                "pyskindose_psd_mgy": r.get("psd_mgy", ""),
                "sum_k_irp_mgy": r.get("sum_k_irp_mgy", ""),
                "error": r.get("error", "").strip(),
            }
            for e in r.get("events") or [{}]:
                writer.writerow(base | {k: ("" if v is None else v) for k, v in e.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench-python", type=Path, default=REPO / ".bench-venv/bin/python")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--write-reference", type=Path, default=None)
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"no data folder {args.data}")
    header = (f"{'file':38s} {'PySkinDose':>10s} {'doseline':>9s} {'ratio':>6s} "
              f"{'pyskd-eq':>9s} {'ratio':>6s}   {'t PySkinDose':>12s} {'t first':>8s} "
              f"{'t repeat':>8s} {'first/PSD':>9s} {'repeat/PSD':>10s}")  # fmt: skip
    print("PSD in mGy, times in s; ratios are doseline / PySkinDose")
    print(header)
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="pyskindose-"))
    run_pyskindose(args.bench_python, args.data / FILES[0], workdir)  # builds corrections.db
    for name in FILES:
        path = args.data / name
        ref = run_pyskindose(args.bench_python, path, workdir)
        rows.append(ref)
        ours, first, repeat = time_doseline(path, None)
        like, _, _ = time_doseline(path, pyskindose_like_settings(path))
        theirs = ref.get("psd_mgy")

        def ratio(x: float | None, y: float | None = theirs) -> str:
            return f"{x / y:6.3f}" if x is not None and y else f"{'-':>6s}"

        print(f"{name:38s} {_fmt(theirs, '10.3f')} {_fmt(ours, '9.3f')} {ratio(ours)} "
              f"{_fmt(like, '9.3f')} {ratio(like)}   {ref['seconds']:12.3f} {first:8.3f} "
              f"{repeat:8.3f} {first / ref['seconds']:9.2f} {repeat / ref['seconds']:10.2f}"
              + (f"   PySkinDose error: {ref['error']}" if "error" in ref else ""))  # fmt: skip
    shutil.rmtree(workdir, ignore_errors=True)
    steps(args.data / FILES[0])
    steps(args.data / FILES[1])
    if args.write_reference is not None:
        write_reference(rows, args.write_reference)
        print(f"\nwrote {args.write_reference}")


if __name__ == "__main__":
    main()
