"""Radiotherapy dosimetry: DVHs, organ doses, plan sums, out-of-field and imaging dose."""

__all__: list[str] = []
