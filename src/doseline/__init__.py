"""doseline: long-term follow-up of children exposed to medical ionising radiation.

The public API is importable from here; the objects load on first use (PEP 562), so that the
command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from doseline._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "DoseReport": "doseline.dicom.report",
    "IngestSummary": "doseline.ingest.summary",
    "Registry": "doseline.registry.database",
    "Settings": "doseline.config",
    "audit_phi": "doseline.registry.audit",
    "export_registry": "doseline.registry.export",
    "generate_cohort": "doseline.cohort",
    "ingest": "doseline.ingest",
    "ingest_table": "doseline.ingest.tables",
    "init_deployment": "doseline.deployment",
    "list_patients": "doseline.registry.queries",
    "patient_history": "doseline.registry.queries",
    "read_rdsr": "doseline.dicom.rdsr",
    "registry_summary": "doseline.reports.summary",
}

__all__ = [
    "DoseReport",
    "IngestSummary",
    "Registry",
    "Settings",
    "__version__",
    "audit_phi",
    "export_registry",
    "generate_cohort",
    "ingest",
    "ingest_table",
    "init_deployment",
    "list_patients",
    "patient_history",
    "read_rdsr",
    "registry_summary",
]

if TYPE_CHECKING:
    from doseline.cohort import generate_cohort
    from doseline.config import Settings
    from doseline.deployment import init_deployment
    from doseline.dicom.rdsr import read_rdsr
    from doseline.dicom.report import DoseReport
    from doseline.ingest import ingest
    from doseline.ingest.summary import IngestSummary
    from doseline.ingest.tables import ingest_table
    from doseline.registry.audit import audit_phi
    from doseline.registry.database import Registry
    from doseline.registry.export import export_registry
    from doseline.registry.queries import list_patients, patient_history
    from doseline.reports.summary import registry_summary


__getattr__ = lazy_getattr("doseline", _EXPORTS, globals())
