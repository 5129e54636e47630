"""Shared values of the contract tests: a fixed clock and one tenancy."""

from __future__ import annotations

NOW = 1_795_946_400_000  # 2026-11-29T10:00:00Z
YEAR_MS = 365 * 86_400_000
TENANCY = {
    "consortium": "steel",
    "member": "baowu",
    "model": "strip-defect",
    "model_version": "3",
    "site": "shanghai-hsm-2",
    "hub": "yangtze-river-delta",
}
