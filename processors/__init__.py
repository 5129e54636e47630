"""Pure numpy engines: mergeable window statistics and the metrics computed from them.

Nothing here imports Kafka, Faust or ClickHouse (a ruff rule enforces it).
"""
