"""Alert notifications: transitions from ``alerts`` to chat robots and webhooks (docs/notify.md).

Modules, one concept each: :mod:`.alert` (the records read), :mod:`.config`
(``notify.yaml``), :mod:`.signing`, :mod:`.message` (templates), :mod:`.channels`
(payloads and responses per platform), :mod:`.ratelimit`, :mod:`.dispatcher`
(per-channel delivery loop), :mod:`.router` (who hears what, when), :mod:`.service`
(the Kafka process).
"""
