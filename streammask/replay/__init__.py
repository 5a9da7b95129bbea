"""``streammask replay``: re-mask a bounded range of the source topics and prove it.

Pure building blocks (``spec``, ``ranges``, ``digest``, ``manifest``) take Kafka clients as arguments; the
Kafka side is ``reader`` (assign-only range reading), ``topics`` (the transactional writer) and ``command``;
``replayer`` runs one pass through the shared pipeline.
"""
