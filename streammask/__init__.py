"""streammask: a streaming masking proxy for Debezium CDC replication into non-production."""

__version__ = "0.1.0"
