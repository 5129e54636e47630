"""The demo runtime (``resonance demo``): one process that runs the broker, the workers, the
sink, the simulator and the live console, and writes the terminal and JSON summaries.

:mod:`resonance.demo.run` orchestrates; :mod:`~resonance.demo.processes` supervises the
child processes; :mod:`~resonance.demo.simulation` feeds the simulator at wall-clock pace;
:mod:`~resonance.demo.embedded_sink` runs the sink in-process over the
:mod:`~resonance.demo.shared_backend` (one chDB, shared with the console's reads);
:mod:`~resonance.demo.summary` writes what the run showed. The web console itself is
:mod:`resonance.console`.
"""
