"""Irradiation events of one synthetic procedure, as a :class:`DoseReport` ready to be written.

Events are made on demand, one procedure at a time, from a random stream of their own (the
cohort seed and the procedure's index), so a procedure's report is the same whichever other
procedures are made. The procedure totals drawn by :func:`doseline.cohort.technique.
procedure_doses` are split between events in integer micro-units (multinomial splits), so the
events add up exactly to the totals of the truth manifest.

Within an event the technique is consistent: pulses = duration x pulse rate (fluoroscopy) or
frames (cine); air kerma per pulse = tube output x mAs per pulse at the reference point, with
the output taken as 50 uGy/mAs at 1 m and 80 kV, scaling as kV squared (the usual rule of
thumb, Bushberg et al., The Essential Physics of Medical Imaging, 3rd ed., 2012, ch. 6) and
halved by about 0.35 mm of copper (attenuation 1.97 per mm, synthetic); mAs = mA x pulse width
x pulses; collimated field area at the detector = KAP / air kerma (the field at the reference
point) scaled by (source-detector / source-reference point distance) squared. All other
parameters are synthetic design choices, labelled where they are set.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from doseline.cohort.technique import (
    CINE_CU_MM,
    FLUORO_CU_MM,
    MIN_FLUORO_EVENT_MS,
    MIN_RUN_FRAMES,
    CentreSpec,
)
from doseline.dicom.report import (
    AccumulatedProjectionDose,
    DoseReport,
    PatientCharacteristics,
    ProjectionEvent,
    ReportKindValues,
    XRayFilter,
)

__all__ = ["ProcedureDraw", "dose_report", "synthetic_uid"]

REFERENCE_POINT = "15cm from Isocenter toward Source"  # IEC 60601-2-43 interventional RP
RP_FROM_ISOCENTER_MM = 150.0  # the reference point lies 15 cm from the isocentre
OUTPUT_UGY_PER_MAS_80KV_1M = 50.0  # tube output, see the module docstring (synthetic)
CU_ATTENUATION_PER_MM = 1.97  # synthetic, see the module docstring
EVENTS_STREAM = 7  # random stream of the events (the cohort tables use other streams)


@dataclass(frozen=True)
class ProcedureDraw:
    """What the cohort tables hold about one RDSR procedure (its totals and technique)."""

    procedure_id: str
    procedure_index: int
    procedure_date: date
    interventional: bool
    weight_kg: float
    era: int
    fluoro_kap_ugycm2: int
    acquisition_kap_ugycm2: int
    fluoro_air_kerma_ugy: int
    acquisition_air_kerma_ugy: int
    fluoro_time_ms: int
    acquisition_frames: int
    n_fluoro_events: int
    n_acquisition_events: int
    fluoro_pulse_rate: float
    cine_frame_rate: float
    sop_instance_uid: str
    study_instance_uid: str
    accession_number: str


def synthetic_uid(seed: int, *parts: object) -> str:
    """A deterministic UID for a synthetic object: ``2.25.`` and a name-based UUID (PS3.5 B.2;
    RFC 4122 version 5) of the seed and ``parts``."""
    name = "\x1f".join(["doseline-synth", str(seed), *map(str, parts)])
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"


def _split(
    rng: np.random.Generator, total: int, weights: npt.ArrayLike, minimum: int = 1
) -> npt.NDArray[np.int64]:
    """``total`` split into ``len(weights)`` integers of at least ``minimum``, in proportion
    to ``weights`` on average (multinomial), summing exactly to ``total``."""
    weights = np.asarray(weights, dtype=float)
    n = int(weights.shape[0])
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot split {total} into {n} parts of at least {minimum}")
    return minimum + rng.multinomial(rest, weights / weights.sum()).astype(np.int64)


def dose_report(
    draw: ProcedureDraw,
    patient: PatientCharacteristics,
    centre: CentreSpec,
    seed: int,
) -> DoseReport:
    """The dose report of one procedure, with its irradiation events.

    Parameters
    ----------
    draw
        The procedure's totals and technique (from the cohort tables).
    patient
        The header's patient data (identifiers, sex, birth date, weight and height as recorded).
    centre
        The centre, for its X-ray system (planes, geometry, vendor conventions).
    seed
        The cohort seed; with ``draw.procedure_index`` it seeds the events' random stream.
    """
    rng = np.random.default_rng([seed, EVENTS_STREAM, draw.procedure_index])
    n_f, n_a = draw.n_fluoro_events, draw.n_acquisition_events
    kinds = np.array([True] * n_f + [False] * n_a)  # True: fluoroscopy
    rng.shuffle(kinds[1:])  # a procedure starts with fluoroscopy
    fluoro, cine = np.flatnonzero(kinds), np.flatnonzero(~kinds)
    n = int(kinds.shape[0])
    # Synthetic: on a biplane system 35% of events are on the lateral plane B.
    on_b = rng.random(n) < 0.35 if centre.biplane else np.zeros(n, dtype=bool)

    ms = np.zeros(n, dtype=np.int64)
    ms[fluoro] = _split(rng, draw.fluoro_time_ms, rng.dirichlet(np.ones(n_f)), MIN_FLUORO_EVENT_MS)
    frames = np.zeros(n, dtype=np.int64)
    frames[cine] = _split(
        rng, draw.acquisition_frames, rng.dirichlet(np.full(n_a, 2.0)), MIN_RUN_FRAMES
    )
    noise = np.exp(0.3 * rng.standard_normal(n))  # synthetic: dose rate varies per event
    kap = np.zeros(n, dtype=np.int64)
    kap[fluoro] = _split(rng, draw.fluoro_kap_ugycm2, ms[fluoro] * noise[fluoro])
    kap[cine] = _split(rng, draw.acquisition_kap_ugycm2, frames[cine] * noise[cine])
    area_noise = np.exp(0.2 * rng.standard_normal(n))  # synthetic: field size varies per event
    kerma = np.zeros(n, dtype=np.int64)
    kerma[fluoro] = _split(rng, draw.fluoro_air_kerma_ugy, kap[fluoro] / area_noise[fluoro])
    kerma[cine] = _split(rng, draw.acquisition_air_kerma_ugy, kap[cine] / area_noise[cine])

    start = datetime.combine(draw.procedure_date, datetime.min.time()) + timedelta(
        minutes=int(rng.integers(8 * 60, 15 * 60))
    )  # synthetic: started 08:00 to 15:00
    events: list[ProjectionEvent] = []
    clock = start
    table = (
        float(rng.normal(0.0, 30.0)),
        float(rng.normal(0.0, 20.0)),
        float(rng.normal(180.0, 30.0)),
    )  # synthetic table position (mm)
    for i in range(n):
        event = _event(
            rng,
            draw,
            centre,
            seed=seed,
            i=i,
            is_fluoro=bool(kinds[i]),
            on_b=bool(on_b[i]),
            ms=int(ms[i]),
            frames=int(frames[i]),
            kap_u=int(kap[i]),
            kerma_u=int(kerma[i]),
            started=clock,
            table=table,
        )
        events.append(event)
        duration = event.irradiation_duration_s or 0.0
        clock += timedelta(seconds=math.ceil(duration) + int(rng.integers(20, 240)))
    planes = ("A", "B") if centre.biplane else ("single",)
    return DoseReport(
        source=f"synthetic {draw.procedure_id}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.88.67",
        sop_instance_uid=draw.sop_instance_uid,
        study_instance_uid=draw.study_instance_uid,
        accession_number=draw.accession_number,
        kind=ReportKindValues.PROJECTION,
        template_id="10001",
        procedure_reported="projection",
        study_date=draw.procedure_date,
        content_datetime=clock + timedelta(seconds=60),
        modality_type="RF",
        study_description=(
            "Interventional cardiac catheterisation"
            if draw.interventional
            else "Diagnostic cardiac catheterisation"
        ),
        patient=patient,
        device=centre.conventions.device(
            centre.serial_number,
            centre.station_name,
            synthetic_uid(seed, "device", centre.centre_id),
        ),
        planes=tuple(
            _plane(plane, [e for e in events if e.plane == plane], centre) for plane in planes
        ),
        events=tuple(events),
    )


def _event(
    rng: np.random.Generator,
    draw: ProcedureDraw,
    centre: CentreSpec,
    *,
    seed: int,
    i: int,
    is_fluoro: bool,
    on_b: bool,
    ms: int,
    frames: int,
    kap_u: int,
    kerma_u: int,
    started: datetime,
    table: tuple[float, float, float],
) -> ProjectionEvent:
    """One irradiation event with technique and geometry consistent with its dose."""
    era = draw.era
    # Synthetic: kV rises with body size from about 60 kV (3 kg) to 85 kV (70 kg); cine +5 kV.
    size = min(max(math.log(max(draw.weight_kg, 1.0) / 3.0) / math.log(70.0 / 3.0), 0.0), 1.0)
    kvp = round(
        min(
            max(60.0 + 25.0 * size + (0.0 if is_fluoro else 5.0) + rng.normal(0.0, 2.0), 50.0),
            110.0,
        ),
        1,
    )
    cu = float(rng.choice((FLUORO_CU_MM if is_fluoro else CINE_CU_MM)[era]))
    rate = draw.fluoro_pulse_rate if is_fluoro else draw.cine_frame_rate
    pulses = max(1, round(ms / 1000.0 * rate)) if is_fluoro else frames
    duration = ms / 1000.0 if is_fluoro else frames / rate

    source_rp = centre.source_to_isocenter_mm - RP_FROM_ISOCENTER_MM
    output = (
        OUTPUT_UGY_PER_MAS_80KV_1M
        * (kvp / 80.0) ** 2
        * math.exp(-CU_ATTENUATION_PER_MM * cu)
        * (1000.0 / source_rp) ** 2
    )  # uGy/mAs at the reference point
    mas_per_pulse = kerma_u / pulses / output
    # Synthetic pulse widths: 3-8 ms fluoroscopy, 4-10 ms cine; the tube current follows.
    width = float(rng.uniform(3.0, 8.0) if is_fluoro else rng.uniform(4.0, 10.0))
    current = round(min(max(mas_per_pulse / (width / 1000.0), 1.0), 1000.0), 1)
    width = round(mas_per_pulse / current * 1000.0, 2) or 0.01
    exposure_ms = round(width * pulses, 1)

    sid = round(float(rng.uniform(950.0, 1200.0)), 1)  # synthetic source-detector distance
    area_rp = kap_u / kerma_u  # cm2: (uGy.cm2)/(uGy)
    area_detector_mm2 = area_rp * (sid / source_rp) ** 2 * 100.0
    aspect = float(rng.uniform(0.8, 1.25))
    height = round(math.sqrt(area_detector_mm2 * aspect), 1)
    width_mm = round(area_detector_mm2 / height, 1)
    if on_b:  # lateral plane: LAO 90 (synthetic spread)
        primary, secondary = 90.0 + rng.normal(0.0, 5.0), rng.normal(0.0, 10.0)
    else:
        primary, secondary = rng.normal(0.0, 20.0), rng.normal(0.0, 15.0)
    rotational = not is_fluoro and era >= 2 and rng.random() < 0.03  # synthetic 3% of runs
    protocol = (
        f"Paed cardiac fluoro {rate:g} p/s" if is_fluoro else f"Paed cardiac cine {rate:g} f/s"
    )
    return ProjectionEvent(
        event_uid=synthetic_uid(seed, draw.procedure_id, "event", i),
        datetime_started=started,
        event_type=(
            "fluoroscopy"
            if is_fluoro
            else "rotational_acquisition"
            if rotational
            else "stationary_acquisition"
        ),
        plane=("B" if on_b else "A") if centre.biplane else "single",
        protocol=protocol,
        target_region="Chest",
        reference_point_definition=REFERENCE_POINT,
        kap_gycm2=kap_u * 1e-6,
        air_kerma_rp_gy=kerma_u * 1e-6,
        kvp=kvp,
        tube_current_ma=current,
        average_tube_current_ma=current,
        exposure_time_ms=exposure_ms,
        exposure_mas=round(current * exposure_ms / 1000.0, 4),
        fluoro_mode="pulsed" if is_fluoro else None,
        pulse_rate_per_s=rate,
        pulse_width_ms=width,
        number_of_pulses=float(pulses),
        irradiation_duration_s=duration,
        focal_spot_mm=centre.focal_spot_mm,
        filter_al_mm=1.0,
        filter_cu_mm=cu,
        filters=(
            XRayFilter("Cu", "Strip filter", cu, cu),
            XRayFilter("Al", "Strip filter", 1.0, 1.0),
        ),
        collimated_field_area_cm2=round(height * width_mm / 100.0, 4),
        collimated_field_height_mm=height,
        collimated_field_width_mm=width_mm,
        ii_field_size_mm=(
            float(rng.choice((200.0, 250.0, 320.0, 420.0)))
            if centre.conventions.siemens_comments
            else None
        ),
        primary_angle_deg=round(float(primary), 1),
        secondary_angle_deg=round(float(secondary), 1),
        primary_end_angle_deg=round(float(primary) + 200.0, 1) if rotational else None,
        secondary_end_angle_deg=round(float(secondary), 1) if rotational else None,
        distance_source_to_isocenter_mm=centre.source_to_isocenter_mm,
        distance_source_to_detector_mm=sid,
        distance_source_to_rp_mm=source_rp,
        table_longitudinal_position_mm=round(table[0] + rng.normal(0.0, 10.0), 1),
        table_lateral_position_mm=round(table[1] + rng.normal(0.0, 5.0), 1),
        table_height_position_mm=round(table[2], 1),
        table_head_tilt_angle_deg=0.0,
        table_horizontal_rotation_angle_deg=0.0,
        table_cradle_tilt_angle_deg=0.0,
        patient_table_relationship="headfirst",
        patient_orientation="recumbent",
        patient_orientation_modifier="supine",
    )


def _plane(
    plane: str, events: list[ProjectionEvent], centre: CentreSpec
) -> AccumulatedProjectionDose:
    """Accumulated dose of one plane: the sums of its events (math.fsum)."""

    def total(name: str, kind: str | None = None) -> float:
        return math.fsum(
            getattr(e, name) or 0.0
            for e in events
            if kind is None or (e.event_type == "fluoroscopy") == (kind == "f")
        )

    return AccumulatedProjectionDose(
        plane=plane,
        kap_gycm2=total("kap_gycm2"),
        air_kerma_rp_gy=total("air_kerma_rp_gy"),
        fluoro_kap_gycm2=total("kap_gycm2", "f"),
        fluoro_air_kerma_rp_gy=total("air_kerma_rp_gy", "f"),
        fluoro_time_s=total("irradiation_duration_s", "f"),
        acquisition_kap_gycm2=total("kap_gycm2", "a"),
        acquisition_air_kerma_rp_gy=total("air_kerma_rp_gy", "a"),
        acquisition_time_s=total("irradiation_duration_s", "a"),
        acquisition_frames=total("number_of_pulses", "a"),
        distance_source_to_rp_mm=centre.source_to_isocenter_mm - RP_FROM_ISOCENTER_MM,
        reference_point_definition=REFERENCE_POINT,
        kap_calibration_factor=1.0,
    )
