"""Compute targets: a step's compute task as the official operator for its target (never subclassed)."""

from __future__ import annotations
