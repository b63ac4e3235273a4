"""Organ dosimetry: from recorded exposures to organ doses."""
