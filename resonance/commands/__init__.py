"""CLI sub-commands, one module each (see resonance.cli)."""
