"""Resonance: a streaming monitor for industrial AI (composition root: CLI and config)."""

__version__ = "0.1.0"
