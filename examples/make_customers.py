"""Generate examples/customers.jsonl: Debezium PostgreSQL change events (JsonConverter with
schemas.enable=true) for public.customers, public.addresses and public.orders, as `kcat -C -J` lines.

The columns are exactly those classified in policies/ecommerce.yaml. Deterministic: a fixed seed and
fixed timestamps, so running it again gives the same bytes. Usage: python examples/make_customers.py
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import events as ev  # noqa: E402
from tests.connect_schema import validate  # noqa: E402

SERVER = "shop"
SEED = 20240603
OUT = Path(__file__).resolve().parent / "customers.jsonl"

TIER = {"allowed": "bronze,silver,gold,platinum"}
ADDRESS_KIND = {"allowed": "billing,shipping"}
ZONED = "io.debezium.time.ZonedTimestamp"
MICROS = "io.debezium.time.MicroTimestamp"
DECIMAL = "org.apache.kafka.connect.data.Decimal"

CUSTOMER_FIELDS = [
    ev.col("id", "int32", False, default=0),
    ev.col("first_name", "string", False),
    ev.col("last_name", "string", False),
    ev.col("email", "string", False),
    ev.col("phone", "string", True),
    ev.col("birth_date", "int32", True, name="io.debezium.time.Date", version=1),
    ev.col("balance", "bytes", False, name=DECIMAL, version=1, default="AA==",
           parameters={"scale": "2", "connect.decimal.precision": "12"}),
    ev.col("notes", "string", True),
    ev.col("national_id", "string", True),
    ev.col("tier", "string", False, name="io.debezium.data.Enum", version=1, default="bronze", parameters=TIER),
    ev.col("created_at", "string", False, name=ZONED, version=1),
    ev.col("updated_at", "string", True, name=ZONED, version=1),
    ev.col("status", "string", False, default="active"),
    ev.col("marketing_opt_in", "boolean", False, default=False),
]
ADDRESS_FIELDS = [
    ev.col("id", "int32", False, default=0),
    ev.col("customer_id", "int32", False),
    ev.col("street", "string", False),
    ev.col("city", "string", False),
    ev.col("postcode", "string", True),
    ev.col("country_code", "string", False),
    ev.col("kind", "string", False, name="io.debezium.data.Enum", version=1, parameters=ADDRESS_KIND),
]
ORDER_FIELDS = [
    ev.col("id", "int64", False, default=0),
    ev.col("customer_id", "int32", False),
    ev.col("status", "string", False, default="placed"),
    ev.col("currency", "string", False, default="EUR"),
    ev.col("total", "bytes", False, name=DECIMAL, version=1,
           parameters={"scale": "2", "connect.decimal.precision": "10"}),
    ev.col("item_count", "int16", False),
    ev.col("placed_at", "int64", False, name=MICROS, version=1),
    ev.col("shipped_at", "int64", True, name=MICROS, version=1),
    ev.col("card_number", "string", True),
    ev.col("gift_note", "string", True),
]
FIELDS = {"customers": CUSTOMER_FIELDS, "addresses": ADDRESS_FIELDS, "orders": ORDER_FIELDS}
KEY_FIELDS = {t: [f[0]] for t, f in FIELDS.items()}

PEOPLE = [
    ("Anne", "Kretchmar"), ("Sally", "Thomas"), ("George", "Bailey"), ("Edward", "Walker"),
    ("Maria", "Gonzalez"), ("Jonas", "Becker"), ("Priya", "Raman"), ("Lucas", "Martin"),
    ("Chloe", "Dubois"), ("Hiroshi", "Tanaka"), ("Fatima", "Haddad"),
]
MAIL_DOMAINS = ["noanswer.org", "example.com", "mail.example.net", "post.example.de"]
STREETS = ["12 Rue de la Paix", "221B Baker Street", "Hauptstrasse 5", "742 Evergreen Terrace",
           "Calle Mayor 10", "4 Privet Drive", "Keizersgracht 123", "Via Roma 1"]
CITIES = [("Paris", "75002", "FR"), ("London", "NW1 6XE", "GB"), ("Berlin", "10115", "DE"),
          ("Springfield", "49007", "US"), ("Madrid", "28013", "ES"), ("Little Whinging", "RG12 9FG", "GB"),
          ("Amsterdam", "1015 CJ", "NL"), ("Rome", "00184", "IT")]
CARDS = ["4111111111111111", "5555555555554444", "4012888888881881", "378282246310005", "6011111111111117",
         "5105105105105100", None]
NOTES = [None, None, "prefers phone contact after 6pm", "VIP since 2019", None]
GIFT_NOTES = [None, None, None, "Happy birthday Sally! Love, George", "Congrats on the new flat"]

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=dt.UTC)


class Log:
    """Builds the kcat lines, one offset counter per topic, a clock that only moves forward."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.offsets: dict[str, int] = {}
        self.clock = T0
        self.lsn = 24_023_128
        self.tx = 555

    def tick(self, seconds: float) -> int:
        self.clock += dt.timedelta(seconds=seconds)
        return ev.millis(self.clock)

    def emit(self, table: str, op: str | None, before: dict[str, Any] | None, after: dict[str, Any] | None,
             key_row: dict[str, Any]) -> None:
        ts = self.tick(0.75)
        self.lsn += 328
        topic = ev.topic(table, server=SERVER)
        key_fields = KEY_FIELDS[table]
        key = ev.key(key_fields, {f["field"]: key_row[f["field"]] for f in key_fields}, table=table, server=SERVER)
        value = None
        if op is not None:
            if op != "r":
                self.tx += 1
            value = ev.envelope(FIELDS[table], before, after, op, table=table, server=SERVER, db="shop", ts_ms=ts,
                                lsn=self.lsn, tx_id=self.tx)
            doc = orjson.loads(value)
            problems = validate(doc["schema"], doc["payload"])
            assert not problems, problems
        offset = self.offsets.get(topic, 0)
        self.offsets[topic] = offset + 1
        record = {
            "topic": topic, "partition": 0, "offset": offset, "tstype": "create", "ts": ts + 41, "broker": 0,
            "key": key.decode(), "payload": None if value is None else value.decode(),
        }
        self.lines.append(orjson.dumps(record))


def zoned(t: dt.datetime) -> str:
    """Debezium's ZonedTimestamp text (ISO_OFFSET_DATE_TIME: no fraction when it is zero, Z for UTC)."""
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def build() -> list[bytes]:
    rng = random.Random(SEED)
    log = Log()
    customers: dict[int, dict[str, Any]] = {}
    for i, (first, last) in enumerate(PEOPLE[:10], start=1001):
        created = T0 - dt.timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86_399))
        customers[i] = {
            "id": i,
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}.{last.lower()}@{rng.choice(MAIL_DOMAINS)}",
            "phone": rng.choice([None, f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                                 f"+44 20 7946 {rng.randint(1000, 9999):04d}"]),
            "birth_date": ev.days(dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))),
            "balance": ev.decimal_bytes(f"{rng.randint(-5000, 250000) / 100:.2f}", 2),
            "notes": rng.choice(NOTES),
            "national_id": f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
            "tier": rng.choice(["bronze", "silver", "gold", "platinum"]),
            "created_at": zoned(created),
            "updated_at": None,
            "status": "active",
            "marketing_opt_in": rng.random() < 0.5,
        }
    for row in customers.values():  # initial snapshot
        log.emit("customers", "r", None, row, row)

    addresses: dict[int, dict[str, Any]] = {}
    for n, cid in enumerate(list(customers)[:8]):
        city, postcode, country = CITIES[n]
        addresses[501 + n] = {
            "id": 501 + n, "customer_id": cid, "street": STREETS[n], "city": city, "postcode": postcode,
            "country_code": country, "kind": "shipping" if n % 3 else "billing",
        }
    for row in addresses.values():
        log.emit("addresses", "r", None, row, row)

    orders: dict[int, dict[str, Any]] = {}
    for n in range(12):
        oid = 90_001 + n
        cid = rng.choice(list(customers))
        placed = log.clock + dt.timedelta(seconds=1)
        orders[oid] = {
            "id": oid, "customer_id": cid, "status": "placed", "currency": rng.choice(["EUR", "EUR", "GBP", "USD"]),
            "total": ev.decimal_bytes(f"{rng.randint(499, 89_999) / 100:.2f}", 2), "item_count": rng.randint(1, 6),
            "placed_at": ev.micros(placed.replace(tzinfo=None)), "shipped_at": None, "card_number": rng.choice(CARDS),
            "gift_note": rng.choice(GIFT_NOTES),
        }
        log.emit("orders", "c", None, orders[oid], orders[oid])

    # customers have REPLICA IDENTITY FULL: updates carry the whole old row
    for cid, change in ((1001, {"email": "anne.kretchmar@example.com"}), (1003, {"tier": "gold"}),
                        (1005, {"balance": ev.decimal_bytes("-12.50", 2), "notes": "payment reminder sent"}),
                        (1008, {"phone": "+33 1 42 68 53 00", "marketing_opt_in": True})):
        old = dict(customers[cid])
        new = {**old, **change, "updated_at": zoned(log.clock + dt.timedelta(seconds=1))}
        customers[cid] = new
        log.emit("customers", "u", old, new, new)

    # orders have REPLICA IDENTITY DEFAULT: no before image
    for oid in (90_001, 90_002, 90_004):
        new = {**orders[oid], "status": "shipped",
               "shipped_at": ev.micros((log.clock + dt.timedelta(hours=20)).replace(tzinfo=None))}
        orders[oid] = new
        log.emit("orders", "u", None, new, new)

    # a new customer signs up with an address
    first, last = PEOPLE[10]
    newcomer = {
        "id": 1011, "first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@example.com",
        "phone": None, "birth_date": ev.days(dt.date(1991, 11, 23)), "balance": "AA==", "notes": None,
        "national_id": None, "tier": "bronze", "created_at": zoned(log.clock + dt.timedelta(seconds=1)),
        "updated_at": None, "status": "active", "marketing_opt_in": False,
    }
    log.emit("customers", "c", None, newcomer, newcomer)
    address = {"id": 509, "customer_id": 1011, "street": "Rue du Rhone 3", "city": "Geneva", "postcode": "1204",
               "country_code": "CH", "kind": "billing"}
    log.emit("addresses", "c", None, address, address)

    # an address is removed (addresses have REPLICA IDENTITY FULL), followed by its tombstone
    gone = addresses[503]
    log.emit("addresses", "d", gone, None, gone)
    log.emit("addresses", None, None, None, gone)
    return log.lines


def main() -> None:
    lines = build()
    OUT.write_bytes(b"".join(line + b"\n" for line in lines))
    print(f"wrote {len(lines)} records to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
