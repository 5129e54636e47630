"""Realistic, deterministic streams of industrial AI events (``resonance simulate``).

>>> from simulator import Simulator, ListSink, load_scenario
"""

from simulator.runner import Simulator
from simulator.scenario import Scenario, load_scenario, parse_scenario
from simulator.sinks import JsonlSink, KafkaSink, ListSink, Sink
from simulator.summary import Summary

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
