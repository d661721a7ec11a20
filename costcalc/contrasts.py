"""Contrast reports: short arguments with exact numbers (bottleneck, separable, ...).

``REPORTS`` maps a file name under reports/ to (title, function returning markdown).
"""
from __future__ import annotations

REPORTS: dict = {}
