"""Realistic, deterministic streams of industrial AI events (``resonance simulate``).

>>> from streams.simulator import Simulator, ListSink, load_scenario
"""

from streams.simulator.runner import Simulator
from streams.simulator.scenario import Scenario, load_scenario, parse_scenario
from streams.simulator.sinks import JsonlSink, KafkaSink, ListSink, Sink
from streams.simulator.summary import Summary

__all__ = [
    "JsonlSink",
    "KafkaSink",
    "ListSink",
    "Scenario",
    "Simulator",
    "Sink",
    "Summary",
    "load_scenario",
    "parse_scenario",
]
