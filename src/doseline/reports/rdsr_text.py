"""Plain-text rendering of a dose report (``doseline rdsr show``)."""

from __future__ import annotations

from doseline.dicom.report import DoseReport, PatientCharacteristics, ReportKindValues

__all__ = ["report_text"]


def _number(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def _age(patient: PatientCharacteristics) -> str:
    if patient.age_at_exposure_days is None or patient.age_years is None:
        return "unknown"
    return (
        f"{patient.age_at_exposure_days} days ({patient.age_years:.1f} years, "
        f"{patient.age_precision} precision)"
    )


def report_text(report: DoseReport) -> str:
    """The report as a few labelled lines, the totals per plane and a table of events."""
    patient, device = report.patient, report.device
    lines = [
        f"{report.source}",
        f"  template: TID {report.template_id or '?'} ({report.kind.value}), "
        f"modality type {report.modality_type}",
        f"  device: {device.manufacturer or '?'} {device.model_name or ''}".rstrip(),
        f"  patient: sex {patient.sex or '?'}, "
        f"age {_age(patient)}, "
        f"weight {_number(patient.weight_kg)} kg, height {_number(patient.height_cm)} cm",
        f"  events: {report.number_of_events}",
    ]
    totals = report.totals()
    if report.kind is ReportKindValues.CT:
        lines.append(f"  DLP total: {_number(totals['dlp_mgycm'])} mGy.cm")
        lines.append("  #   type                        kVp    CTDIvol mGy  DLP mGy.cm  protocol")
        for i, ct in enumerate(report.ct_events, 1):
            lines.append(
                f"  {i:<3} {ct.acquisition_type or '-':<27} {_number(ct.kvp):<6} "
                f"{_number(ct.ctdivol_mgy):<12} {_number(ct.dlp_mgycm):<11} {ct.protocol or ''}"
            )
        return "\n".join(lines)
    for plane in report.planes:
        lines.append(
            f"  plane {plane.plane}: KAP {_number(plane.kap_gycm2)} Gy.cm2, "
            f"Ka,r {_number(plane.air_kerma_rp_gy)} Gy, fluoroscopy {_number(plane.fluoro_time_s)} "
            f"s, acquisition {_number(plane.acquisition_time_s)} s"
        )
    lines.append(
        f"  total: KAP {_number(totals['kap_gycm2'])} Gy.cm2, "
        f"Ka,r {_number(totals['air_kerma_rp_gy'])} Gy"
    )
    lines.append(
        "  #   type                    plane  kVp    mA      KAP Gy.cm2  Ka,r Gy     "
        "prim/sec deg   Cu mm"
    )
    for i, e in enumerate(report.events, 1):
        angles = f"{_number(e.primary_angle_deg, 3)}/{_number(e.secondary_angle_deg, 3)}"
        lines.append(
            f"  {i:<3} {e.event_type or '-':<23} {e.plane or '-':<6} {_number(e.kvp):<6} "
            f"{_number(e.tube_current_ma):<7} {_number(e.kap_gycm2):<11} "
            f"{_number(e.air_kerma_rp_gy):<11} {angles:<14} {_number(e.filter_cu_mm)}"
        )
    if report.warnings:
        lines.append("  warnings:")
        lines.extend(f"    - {w}" for w in report.warnings)
    return "\n".join(lines)
