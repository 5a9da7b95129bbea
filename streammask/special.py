"""Values that strategies pass unchanged on purpose: markers a connector or converter writes for
"no finite value" (infinity timestamps, NaN). They hold no personal data, and masking them would
either give a real-looking but false value or one the sink rejects. Anything that reads a masked
record for leaks should treat these as legitimate equality, not as a leaked value.
"""

from __future__ import annotations

# PostgreSQL's timestamp 'infinity' / '-infinity' as Debezium's PostgreSQL connector writes them
# (PostgresValueConverter; postgresql.adoc, "TIMESTAMP type": "converted to timestamps with value
# 9223372036825200000 in case of positive infinity or -9223372036832400000 in case of negative infinity",
# the PostgreSQL JDBC driver's PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY). All three
# encodings are accepted for every timestamp unit: none of them is a date a real column holds in any unit.
INFINITY_TIMESTAMPS: frozenset[int] = frozenset(
    {
        9_223_372_036_825_200_000,  # MicroTimestamp (and the JDBC driver's millisecond constant)
        -9_223_372_036_832_400_000,
        9_223_372_036_825_200,  # millisecond timestamps: io.debezium.time.Timestamp, Connect Timestamp
        -9_223_372_036_832_400,
        2**63 - 1,  # NanoTimestamp: Long.MAX_VALUE / Long.MIN_VALUE
        -(2**63),
    }
)

# The same markers as io.debezium.time.ZonedTimestamp strings (and schemaless ISO-8601 text).
INFINITY_TEXTS: frozenset[str] = frozenset({"infinity", "-infinity"})

# Non-finite numbers as text: Kafka's JsonConverter (Jackson) writes a NaN or infinite double as these
# JSON strings, and PostgreSQL numeric with decimal.handling.mode=string gives the same words.
NON_FINITE_TEXTS: frozenset[str] = frozenset({"NaN", "Infinity", "-Infinity"})
