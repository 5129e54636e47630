"""Bundled scenario files for ``resonance simulate`` (``default.yaml``, ``showcase.yaml``)."""
