"""Producers choose their compression: a worker reads lz4, snappy and zstd batches exactly.

aiokafka (under Faust) decodes these codecs with ``cramjam``; without it an lz4 batch
stops the agent with UnsupportedCodecError. Plants' producers are not ours to configure.
"""

from __future__ import annotations

import pytest

from simulator import KafkaSink, Simulator

from .conftest import past
from .counts import diff, expected_totals, totals

pytestmark = pytest.mark.integration

CODEC_MODELS = {"lz4": "weld-defect", "snappy": "cracker-cot", "zstd": "fatp-lot-yield"}


def test_worker_reads_every_producer_codec(stack):
    want: dict = {}
    models = []
    for codec, model in CODEC_MODELS.items():
        sim = Simulator(seed=11, rate=2.0, batch_size=25, models=(model,))
        sink = KafkaSink(stack.bootstrap, **{"compression.type": codec})
        summary = sim.run(sink, start=past(30), duration=300, pace=False, flush_outcomes=True)
        assert summary.delivery["failed"] == 0, codec
        want |= expected_totals(summary)
        models += sim.models
    stack.write_references(models)
    worker = stack.worker()
    got = stack.partials(lambda ps: totals(ps) == want, what="codec totals", check=False)
    assert diff(totals(got), want) == {}, worker.output()[-3000:]
    assert worker.alive
