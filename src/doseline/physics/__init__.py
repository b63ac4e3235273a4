"""Radiation physics for X-ray dosimetry: spectra, materials, phantoms and photon transport."""
