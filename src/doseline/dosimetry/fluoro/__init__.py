"""Organ and skin doses for fluoroscopically guided procedures (cardiac catheterisation).

From what the hospital recorded (RDSR irradiation events, or a legacy dose-area product) to
organ absorbed doses per ICRP 103 tissue, with their method, inputs and uncertainty.
"""
