"""Radiation risk projection: lifetime attributable risk of cancer and circulatory disease."""
