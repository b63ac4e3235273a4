"""Ingest speed: synthetic RDSRs and the real long procedures, against pydicom in the same run.

    python benchmarks/ingest.py [--files 2000] [--real-copies 20] [--out benchmark-output]

Builds (once, cached under ``--out``) N synthetic RDSRs of the synthetic cohort (about 30
events each, the vendors' conventions of its four centres) and copies of the long real
procedures of ../shared/data/rdsr (89, 316 and 49 events). Then, on the same files in this one
run, it measures:

- the floor: reading the bytes (``Path.read_bytes``);
- the baseline the issue names: a bare ``pydicom.dcmread`` of each file;
- what reading the content costs with pydicom: ``dcmread`` and a walk of every content item
  (on a sample, because it is slow);
- doseline reading and normalising each report (``read_rdsr``);
- doseline ingest into a fresh SQLite registry with ``--jobs 1`` and ``--jobs 2``;
- peak memory of an ingest of N/4 and of N files (separate processes), to show it is flat.

It prints files/s, MB/s and the ratio of each to the bare ``dcmread``. Figures depend on the
machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

REAL_LONG = [
    "openrem/RF-RDSR-Philips_Azurion.dcm",
    "openrem/RF-Pat-Orientation-Modifier-Missing.dcm",
    "openrem/RF-RDSR-Canon-Alphenix-rotational.dcm",
]


def synthetic_files(out: Path, n_files: int, jobs: int) -> list[Path]:
    """N synthetic RDSR files (generated once and cached in ``out``)."""
    from doseline.cohort import CohortConfig, generate_cohort

    marker = out / f"synthetic-{n_files}.json"
    if marker.exists():
        return [Path(p) for p in json.loads(marker.read_text())]
    n_patients = max(50, n_files)  # about one RDSR per child with the default eras
    while True:
        cohort = generate_cohort(CohortConfig(n_patients=n_patients, seed=7))
        if int((cohort.procedures["record_kind"] == "rdsr").sum()) >= n_files:
            break
        n_patients = int(n_patients * 1.5)
    keep = cohort.procedures[cohort.procedures["record_kind"] == "rdsr"].head(n_files)
    cohort = type(cohort)(cohort.config, cohort.patients, keep, cohort.truth)
    written = cohort.write(out / f"synthetic-{n_files}", jobs=jobs)
    paths = sorted(str(p) for files in written.rdsr.values() for p in files)
    marker.write_text(json.dumps(paths))
    return [Path(p) for p in paths]


def real_files(out: Path, shared: Path, copies: int) -> list[Path]:
    """``copies`` copies of each long real procedure, with new SOP Instance UIDs."""
    folder = out / f"real-{copies}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in REAL_LONG:
        source = shared / name
        if not source.exists():
            continue
        for i in range(copies):
            target = folder / f"{source.stem}-{i:03d}.dcm"
            if not target.exists():
                dataset = pydicom.dcmread(source)
                dataset.SOPInstanceUID = pydicom.uid.generate_uid()
                dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
                dataset.StudyInstanceUID = pydicom.uid.generate_uid()
                dataset.save_as(target, enforce_file_format=True)
            paths.append(target)
    return paths


def undefined_length(path: Path) -> bool:
    """Whether the file's Content Sequence has undefined length (pydicom then parses it at
    read time; with a defined length it keeps the bytes unparsed until accessed)."""
    dataset = pydicom.filereader.read_partial(
        path.open("rb"), stop_when=lambda tag, vr, n: tag > 0x0040A730
    )
    element = dataset.get_item(0x0040A730)
    return not isinstance(element, pydicom.dataelem.RawDataElement)


def emit(row: dict[str, object]) -> dict[str, object]:
    """Print a result as soon as it is known (one JSON object a line)."""
    print(json.dumps(row), flush=True)
    return row


def rate(
    label: str, files: list[Path], seconds: float, baseline: float | None
) -> dict[str, object]:
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    files_per_s = len(files) / seconds
    row: dict[str, object] = {
        "what": label,
        "files": len(files),
        "seconds": round(seconds, 3),
        "files_per_s": round(files_per_s, 1),
        "mb_per_s": round(megabytes / seconds, 2),
    }
    if baseline is not None:
        row["ratio_to_dcmread"] = round(files_per_s / baseline, 3)
    return emit(row)


def timed(function: object, files: list[Path]) -> float:
    started = time.perf_counter()
    for path in files:
        function(path)  # type: ignore[operator]
    return time.perf_counter() - started


def walk_content(path: Path) -> int:
    """Read with pydicom and touch every content item's concept and value."""
    dataset = pydicom.dcmread(path)
    count = 0
    stack = list(dataset.get("ContentSequence", []))
    while stack:
        item = stack.pop()
        count += 1
        item.get("ConceptNameCodeSequence")
        item.get("MeasuredValueSequence")
        item.get("TextValue")
        stack.extend(item.get("ContentSequence", []))
    return count


def ingest_once(files: list[Path], jobs: int) -> float:
    from doseline.ingest.files import ingest_paths
    from doseline.registry.database import Registry
    from doseline.registry.pseudonym import Pseudonymiser, create_key_file, load_key

    with tempfile.TemporaryDirectory() as tmp:
        key = create_key_file(Path(tmp) / "key")
        registry = Registry(f"sqlite:///{tmp}/registry.sqlite", Pseudonymiser(load_key(key)))
        registry.upgrade()
        registry.check_key()
        started = time.perf_counter()
        summary = ingest_paths(registry, files, centre="benchmark", jobs=jobs)
        seconds = time.perf_counter() - started
        registry.dispose()
    if summary.rejected:
        raise SystemExit(f"benchmark files were rejected: {summary.rejections[:3]}")
    return seconds


def peak_memory_mb(files_list: Path, jobs: int) -> float:
    """Peak resident memory of a child process ingesting the files listed in ``files_list``."""
    command = [sys.executable, __file__, "--child-ingest", str(files_list), "--jobs", str(jobs)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(output.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--real-copies", type=int, default=20)
    parser.add_argument("--walk-sample", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmark-output"))
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/rdsr"
    )
    parser.add_argument("--child-ingest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ingest is not None:  # the process whose peak memory is measured
        ingest_once([Path(p) for p in json.loads(args.child_ingest.read_text())], args.jobs)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, min(2, os.cpu_count() or 1))

    synthetic = synthetic_files(args.out, args.files, jobs)
    real = real_files(args.out, args.shared, args.real_copies)
    files = synthetic + real
    from doseline.dicom.rdsr import read_rdsr

    read_rdsr(files[0])  # compile the scanner once, outside the timings
    rows: list[dict[str, object]] = []
    undefined = {path: undefined_length(path) for path in files}
    groups = (
        ("synthetic, defined lengths", [p for p in synthetic if not undefined[p]]),
        ("synthetic, undefined lengths", [p for p in synthetic if undefined[p]]),
        ("real long", real),
        ("all", files),
    )
    for group, subset in groups:
        if not subset:
            continue
        raw = timed(Path.read_bytes, subset)
        bare = timed(pydicom.dcmread, subset)
        baseline = len(subset) / bare
        sample = subset[: args.walk_sample]
        walk = timed(walk_content, sample)
        parse = timed(read_rdsr, subset)
        rows += [
            rate(f"{group}: read bytes (floor)", subset, raw, baseline),
            rate(f"{group}: pydicom.dcmread (baseline)", subset, bare, baseline),
            rate(f"{group}: pydicom dcmread + walk content", sample, walk, baseline),
            rate(f"{group}: doseline read_rdsr", subset, parse, baseline),
        ]
        if group == "all":
            serial = ingest_once(subset, jobs=1)
            rows.append(rate(f"{group}: doseline ingest --jobs 1", subset, serial, baseline))
            if jobs > 1:
                parallel = ingest_once(subset, jobs=2)
                rows.append(rate(f"{group}: doseline ingest --jobs 2", subset, parallel, baseline))
                rows.append(
                    emit(
                        {
                            "what": "jobs 2 speed-up over jobs 1",
                            "ratio": round(serial / parallel, 2),
                        }
                    )
                )
    listing = args.out / "files.json"
    quarter = args.out / "files-quarter.json"
    listing.write_text(json.dumps([str(p) for p in synthetic]))
    quarter.write_text(json.dumps([str(p) for p in synthetic[: len(synthetic) // 4]]))
    for label, listed in ((len(synthetic) // 4, quarter), (len(synthetic), listing)):
        emit(
            {
                "what": f"peak memory of a process ingesting {label} files (MB)",
                "value": round(peak_memory_mb(listed, 1), 1),
            }
        )


if __name__ == "__main__":
    main()
