"""``streammask replay``'s building blocks: range specs, their resolution against a cluster, output digests
and the manifest. Pure: Kafka clients are passed in, never made here."""
