"""The fake registry is honest: confluent-kafka's own client and Avro serde work against it, and it answers
with the real registry's status codes, error codes and bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.fake_registry import CONTENT_TYPE, FakeRegistry, Pki

ORDER: dict[str, Any] = {
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "blob", "type": "bytes"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def record(fields: list[dict[str, Any]], name: str = "R") -> str:
    return json.dumps({"type": "record", "name": name, "fields": fields})


V1 = record([{"name": "a", "type": "int"}, {"name": "b", "type": "string"}])
ADDS_REQUIRED = record([{"name": "a", "type": "int"}, {"name": "b", "type": "string"}, {"name": "c", "type": "int"}])
ADDS_OPTIONAL = record([{"name": "a", "type": "int"}, {"name": "b", "type": "string"},
                        {"name": "c", "type": ["null", "int"], "default": None}])
DROPS_B = record([{"name": "a", "type": "int"}])
C_WITH_DEFAULT = record([{"name": "a", "type": "int"}, {"name": "c", "type": "int", "default": 0}])


def compact(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"))


def sr(registry: FakeRegistry, **conf: Any) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": registry.url, **conf})


def code_of(call: Callable[[], object]) -> tuple[int, int]:
    with pytest.raises(SchemaRegistryError) as info:
        call()
    return info.value.http_status_code, info.value.error_code


def http(registry: FakeRegistry, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, registry.url + path, json=body, timeout=5)


# --- confluent-kafka's client and serde ---------------------------------------------------------------


def test_avro_serializer_registers_and_deserializer_reads_back_through_the_fake(registry: FakeRegistry) -> None:
    ctx = SerializationContext("orders", MessageField.VALUE)
    value = {"id": 7, "amount": Decimal("1234.50"), "blob": b"\x00\xff\x10", "note": "fragile"}
    serializer = AvroSerializer(sr(registry), json.dumps(ORDER), conf={"auto.register.schemas": True})

    wire = serializer(value, ctx)

    assert wire is not None and wire[0] == 0 and int.from_bytes(wire[1:5], "big") == 1
    assert len(registry.calls("POST", "/subjects/orders-value/versions")) == 1
    reader = AvroDeserializer(sr(registry))  # a second client: nothing cached, the id must come from the fake
    assert reader(wire, ctx) == value
    assert reader(serializer({**value, "note": None}, ctx), ctx) == {**value, "note": None}
    assert len(registry.calls("GET", "/schemas/ids/1")) == 1


def test_client_reads_back_by_id_lookup_latest_and_version(registry: FakeRegistry) -> None:
    client = sr(registry)
    first = client.register_schema("t-value", Schema(V1, "AVRO"))
    second = client.register_schema("t-value", Schema(ADDS_OPTIONAL, "AVRO"))

    assert (first, second) == (1, 2)
    assert json.loads(sr(registry).get_schema(2).schema_str) == json.loads(ADDS_OPTIONAL)
    found = sr(registry).lookup_schema("t-value", Schema(V1, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (1, 1, "t-value")
    latest = sr(registry).get_latest_version("t-value")
    assert (latest.schema_id, latest.version) == (2, 2)
    assert sr(registry).get_version("t-value", 1).schema_id == 1
    assert sr(registry).get_subjects() == ["t-value"]


def test_client_sees_409_for_a_new_required_field_and_accepts_a_removed_one(registry: FakeRegistry) -> None:
    client = sr(registry)
    client.register_schema("t-value", Schema(V1, "AVRO"))

    assert code_of(lambda: client.register_schema("t-value", Schema(ADDS_REQUIRED, "AVRO"))) == (409, 40901)
    assert client.register_schema("t-value", Schema(DROPS_B, "AVRO")) == 2
    assert sr(registry).get_versions("t-value") == [1, 2]


def test_client_sees_422_for_invalid_avro_and_an_invalid_level(registry: FakeRegistry) -> None:
    client = sr(registry)
    bad = record([{"name": "a", "type": "no.such.Type"}])

    assert code_of(lambda: client.register_schema("t-value", Schema(bad, "AVRO"))) == (422, 42201)
    assert code_of(lambda: client.register_schema("t-value", Schema("{not json", "AVRO"))) == (422, 42201)
    assert code_of(lambda: client.set_compatibility("t-value", "SIDEWAYS")) == (422, 42203)


def test_compatibility_levels_per_subject_and_global(registry: FakeRegistry) -> None:
    client = sr(registry)
    assert client.get_compatibility() == "BACKWARD"
    assert code_of(lambda: client.get_compatibility("t-value")) == (404, 40408)

    assert client.set_compatibility("t-value", "none") == {"compatibility": "NONE"}
    assert client.get_compatibility("t-value") == "NONE"
    client.register_schema("t-value", Schema(V1, "AVRO"))
    assert client.register_schema("t-value", Schema(ADDS_REQUIRED, "AVRO")) == 2  # NONE checks nothing

    client.set_compatibility(level="FULL")
    assert client.get_compatibility() == "FULL"
    client.register_schema("u-value", Schema(V1, "AVRO"))
    # FULL: the old schema must also read the new one, so dropping b (no default) is refused.
    assert code_of(lambda: client.register_schema("u-value", Schema(DROPS_B, "AVRO"))) == (409, 40901)


def test_client_retries_injected_503s_like_against_a_real_registry(registry: FakeRegistry) -> None:
    registry.fail_next(2, status=503)
    client = sr(registry, **{"max.retries": 2, "retries.wait.ms": 1, "retries.max.wait.ms": 2})

    assert client.get_compatibility() == "BACKWARD"
    assert len(registry.calls("GET", "/config")) == 3


def test_client_authenticates_with_basic_auth(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(basic_auth=("svc", "pw:with:colons"))

    assert code_of(lambda: sr(registry).get_compatibility()) == (401, 401)
    assert sr(registry, **{"basic.auth.user.info": "svc:pw:with:colons"}).get_compatibility() == "BACKWARD"
    assert code_of(lambda: sr(registry, **{"basic.auth.user.info": "svc:wrong"}).get_compatibility()) == (401, 401)


def test_client_verifies_the_fake_over_tls_with_a_client_certificate(
    registry_factory: Callable[..., FakeRegistry], registry_pki: Pki
) -> None:
    registry = registry_factory(pki=registry_pki, require_client_cert=True)
    tls = {"ssl.ca.location": str(registry_pki.ca), "ssl.certificate.location": str(registry_pki.client_cert),
           "ssl.key.location": str(registry_pki.client_key)}

    assert registry.url.startswith("https://")
    assert sr(registry, **tls).get_compatibility() == "BACKWARD"
    with pytest.raises(Exception, match="(?i)certificate|alert|ssl|tls"):
        sr(registry, **{"ssl.ca.location": str(registry_pki.ca), "max.retries": 0}).get_compatibility()
    with pytest.raises(Exception, match="(?i)certificate verify failed"):
        sr(registry, **{"max.retries": 0}).get_compatibility()  # the system CAs do not know the test CA


# --- ids and schema identity --------------------------------------------------------------------------


def test_the_same_schema_gets_one_global_id_across_subjects_whatever_its_spacing(registry: FakeRegistry) -> None:
    spaced = json.dumps(json.loads(V1), indent=4)
    reordered = json.dumps({"fields": json.loads(V1)["fields"], "name": "R", "type": "record"})
    wrapped = record([{"name": "a", "type": {"type": "int"}}, {"name": "b", "type": "string"}])

    ids = [registry.register_direct(s, text) for s, text in
           [("a-value", V1), ("b-value", spaced), ("c-value", reordered), ("d-value", wrapped)]]

    assert ids == [1, 1, 1, 1]
    assert registry.register_direct("a-value", DROPS_B) == 2
    assert http(registry, "GET", "/schemas/ids/1").json() == {"schema": compact(V1)}
    assert http(registry, "GET", "/subjects/b-value/versions").json() == [1]


def test_re_registering_an_older_version_returns_its_id_without_a_new_version(registry: FakeRegistry) -> None:
    registry.register_direct("t-value", V1)
    registry.register_direct("t-value", DROPS_B)

    assert registry.register_direct("t-value", V1) == 1
    assert http(registry, "GET", "/subjects/t-value/versions").json() == [1, 2]


def test_two_registries_are_independent(source_registry: FakeRegistry, target_registry: FakeRegistry) -> None:
    source_registry.register_direct("x-value", V1)
    target_registry.register_direct("other-value", DROPS_B)
    target_registry.register_direct("x-value", V1)

    assert source_registry.port != target_registry.port
    assert http(source_registry, "GET", "/subjects").json() == ["x-value"]
    assert http(target_registry, "POST", "/subjects/x-value", {"schema": V1}).json()["id"] == 2
    assert http(source_registry, "GET", "/schemas/ids/2").status_code == 404


# --- compatibility rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "old", "new", "ok"), [
    ("BACKWARD", V1, ADDS_REQUIRED, False),
    ("BACKWARD", V1, ADDS_OPTIONAL, True),
    ("BACKWARD", V1, DROPS_B, True),
    ("FORWARD", V1, ADDS_REQUIRED, True),
    ("FORWARD", V1, DROPS_B, False),
    ("FULL", V1, ADDS_OPTIONAL, True),
    ("BACKWARD", record([{"name": "a", "type": "int"}]), record([{"name": "a", "type": "long"}]), True),
    ("BACKWARD", record([{"name": "a", "type": "long"}]), record([{"name": "a", "type": "int"}]), False),
    ("BACKWARD", record([{"name": "a", "type": "string"}]), record([{"name": "a", "type": "bytes"}]), True),
    ("BACKWARD", record([{"name": "a", "type": "int"}]), record([{"name": "a", "type": ["null", "int"]}]), True),
    ("BACKWARD", record([{"name": "a", "type": ["null", "int"]}]), record([{"name": "a", "type": "int"}]), False),
    ("BACKWARD", record([{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}]),
     record([{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}]), False),
    ("BACKWARD", record([{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}]),
     record([{"name": "a", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}]), True),
    ("BACKWARD", record([{"name": "a", "type": "int"}], name="R"), record([{"name": "a", "type": "int"}], name="S"),
     False),
    ("BACKWARD", record([{"name": "a", "type": {"type": "array", "items": "int"}}]),
     record([{"name": "a", "type": {"type": "array", "items": "string"}}]), False),
    ("BACKWARD", record([{"name": "a", "type": {"type": "fixed", "name": "F", "size": 4}}]),
     record([{"name": "a", "type": {"type": "fixed", "name": "F", "size": 8}}]), False),
    ("NONE", V1, record([{"name": "z", "type": "string"}], name="Z"), True),
])
def test_compatibility_follows_avro_schema_resolution(
    registry: FakeRegistry, level: str, old: str, new: str, ok: bool
) -> None:
    http(registry, "PUT", "/config/t-value", {"compatibility": level})
    registry.register_direct("t-value", old)

    answer = http(registry, "POST", "/subjects/t-value/versions", {"schema": new})

    assert (answer.status_code, answer.json().get("error_code")) == ((200, None) if ok else (409, 40901))


def test_transitive_levels_check_every_version_and_plain_ones_only_the_latest(registry: FakeRegistry) -> None:
    with_c_required = record([{"name": "a", "type": "int"}, {"name": "c", "type": "int"}])
    registry.register_direct("plain", V1)
    registry.register_direct("plain", C_WITH_DEFAULT)
    http(registry, "PUT", "/config/trans", {"compatibility": "BACKWARD_TRANSITIVE"})
    registry.register_direct("trans", V1)
    registry.register_direct("trans", C_WITH_DEFAULT)
    # Version 2 has c, so c needs no default against it; version 1 lacks c, so it does against that one.

    assert http(registry, "POST", "/subjects/plain/versions", {"schema": with_c_required}).status_code == 200
    assert http(registry, "POST", "/subjects/trans/versions", {"schema": with_c_required}).status_code == 409


def test_recursive_schemas_are_checked_without_looping(registry: FakeRegistry) -> None:
    node = {"type": "record", "name": "Node", "fields": [
        {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None}]}
    grown = {**node, "fields": [*node["fields"], {"name": "w", "type": "int", "default": 0}]}
    registry.register_direct("n", json.dumps(node))

    assert http(registry, "POST", "/subjects/n/versions", {"schema": json.dumps(grown)}).json() == {"id": 2}


# --- the HTTP surface ---------------------------------------------------------------------------------


def test_errors_have_the_registrys_shape_status_and_content_type(registry: FakeRegistry) -> None:
    registry.register_direct("t-value", V1)
    cases = [
        ("GET", "/schemas/ids/99", None, 404, 40403),
        ("GET", "/subjects/nope/versions/latest", None, 404, 40401),
        ("GET", "/subjects/t-value/versions/2", None, 404, 40402),
        ("GET", "/subjects/t-value/versions/0", None, 422, 42202),
        ("GET", "/subjects/t-value/versions/abc", None, 422, 42202),
        ("POST", "/subjects/nope", {"schema": V1}, 404, 40401),
        ("POST", "/subjects/t-value", {"schema": DROPS_B}, 404, 40403),
        ("POST", "/subjects/t-value/versions", {"schema": '{"type": "enum", "name": "E", "symbols": ["A", "A"]}'},
         422, 42201),
        ("POST", "/subjects/t-value/versions", {"schema": '"no.such.Type"'}, 422, 42201),
        ("POST", "/subjects/t-value/versions", {"schema": V1, "schemaType": "PROTOBUF"}, 422, 42201),
        ("POST", "/subjects/t-value/versions", {"schema": V1, "references": [{"name": "x"}]}, 422, 42201),
        ("GET", "/config/t-value", None, 404, 40408),
        ("PUT", "/config", {"compatibility": "MOSTLY"}, 422, 42203),
        ("GET", "/nothing/here", None, 404, 404),
    ]
    for method, path, body, status, code in cases:
        answer = http(registry, method, path, body)
        assert (method, path, answer.status_code, answer.json()["error_code"]) == (method, path, status, code)
        assert isinstance(answer.json()["message"], str) and answer.json()["message"]
        assert answer.headers["Content-Type"] == CONTENT_TYPE


def test_success_bodies_match_the_real_registry(registry: FakeRegistry) -> None:
    registered = http(registry, "POST", "/subjects/t-value/versions", {"schema": V1, "schemaType": "AVRO"})
    assert registered.json() == {"id": 1}
    assert http(registry, "GET", "/schemas/ids/1?subject=t-value&format=serialized").json() == {"schema": compact(V1)}
    described = {"subject": "t-value", "version": 1, "id": 1, "schema": compact(V1)}
    assert http(registry, "GET", "/subjects/t-value/versions/latest").json() == described
    assert http(registry, "GET", "/subjects/t-value/versions/1").json() == described
    assert http(registry, "POST", "/subjects/t-value?normalize=false", {"schema": V1}).json() == described
    assert http(registry, "GET", "/config/t-value?defaultToGlobal=true").json() == {"compatibilityLevel": "BACKWARD"}
    assert http(registry, "PUT", "/config/t-value", {"compatibility": "FORWARD"}).json() == {"compatibility": "FORWARD"}
    assert http(registry, "GET", "/config/t-value").json() == {"compatibilityLevel": "FORWARD"}
    assert http(registry, "GET", "/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_subject_names_are_percent_decoded(registry: FakeRegistry) -> None:
    assert http(registry, "POST", "/subjects/a%2Fb%20c/versions", {"schema": V1}).json() == {"id": 1}
    assert http(registry, "GET", "/subjects").json() == ["a/b c"]
    assert registry.calls("POST")[0].path == "/subjects/a%2Fb%20c/versions"


def test_bearer_token_is_required_when_configured(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(bearer_token="tok-123")

    assert http(registry, "GET", "/config").json() == {"error_code": 401, "message": "Unauthorized"}
    ok = requests.get(registry.url + "/config", headers={"Authorization": "Bearer tok-123"}, timeout=5)
    assert ok.status_code == 200
    assert [r.headers.get("authorization") for r in registry.requests] == [None, "Bearer tok-123"]


def test_faults_come_in_the_order_queued_then_normal_service(registry: FakeRegistry) -> None:
    registry.fail_next(1, status=500, error_code=50001)
    registry.fail_next(1, status=429)
    registry.drop_next(1)

    assert http(registry, "GET", "/config").json() == {"error_code": 50001, "message": "injected failure (HTTP 500)"}
    assert http(registry, "GET", "/config").status_code == 429
    with pytest.raises(requests.ConnectionError):
        http(registry, "GET", "/config")
    assert http(registry, "GET", "/config").status_code == 200


def test_forced_errors_apply_to_registrations_under_that_subject(registry: FakeRegistry) -> None:
    registry.force_error("t-value", 40901)

    assert code_of(lambda: sr(registry).register_schema("t-value", Schema(V1, "AVRO"))) == (409, 40901)
    assert sr(registry).register_schema("u-value", Schema(V1, "AVRO")) == 1
    assert sr(registry).register_schema("t-value", Schema(V1, "AVRO")) == 1  # only once


def test_down_refuses_connections_and_up_serves_the_same_state_on_the_same_port(registry: FakeRegistry) -> None:
    registry.register_direct("t-value", V1)
    session = requests.Session()
    assert session.get(registry.url + "/schemas/ids/1", timeout=5).status_code == 200  # a kept-alive connection
    port = registry.port

    registry.down()
    with pytest.raises(requests.ConnectionError):
        session.get(registry.url + "/schemas/ids/1", timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(registry.url + "/schemas/ids/1", timeout=5)
    registry.up()

    assert registry.port == port
    assert session.get(registry.url + "/schemas/ids/1", timeout=5).status_code == 200


def test_the_log_records_method_raw_path_query_headers_and_body(registry: FakeRegistry) -> None:
    requests.post(registry.url + "/subjects/s/versions?normalize=true", json={"schema": V1},
                  headers={"X-Probe": "1"}, timeout=5)

    (seen,) = registry.requests
    assert (seen.method, seen.path, seen.query) == ("POST", "/subjects/s/versions", "normalize=true")
    assert seen.headers["x-probe"] == "1" and seen.json() == {"schema": V1}
