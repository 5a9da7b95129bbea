"""The streaming proxy: ``streammask run``. Kafka I/O lives here, never in the masking core."""
