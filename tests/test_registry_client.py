"""The registry client against the fake registry over real HTTP: caching, retries, auth, TLS, safe errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streammask.codec.registry import (
    RegistryClient,
    RegistryConfig,
    RegistryConfigError,
    RegistryError,
    RegistryRejected,
    RegistryUnavailable,
)
from tests.fake_registry import FakeRegistry, Pki

V1 = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}]})
V2 = json.dumps({"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"}, {"name": "note", "type": ["null", "string"], "default": None}]})
NEEDS_DEFAULT = json.dumps({"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "long"}, {"name": "qty", "type": "int"}]})
PASSWORD = "s3cret-Pa55"
TOKEN = "tok-Secret-123"


def config(url: str, **settings: Any) -> RegistryConfig:
    """Fast settings for tests: tiny timeouts and backoff."""
    return RegistryConfig.model_validate({"url": url, "timeout_s": 2, "backoff_s": 0.001, **settings})


def client(
    url: str, waits: list[float] | None = None, env: dict[str, str] | None = None, **settings: Any
) -> RegistryClient:
    sleep = waits.append if waits is not None else (lambda _s: None)
    return RegistryClient(config(url, **settings), sleep=sleep, env=env or {})


def down_url(registry_factory: Callable[..., FakeRegistry]) -> str:
    """The URL of a port nothing listens on (a registry started and stopped)."""
    gone = registry_factory()
    gone.down()
    return gone.url


# --- config -------------------------------------------------------------------------------------------


def test_config_takes_confluent_names_forbids_unknown_ones_and_is_frozen() -> None:
    cfg = RegistryConfig.model_validate({
        "url": "http://r:8081", "basic.auth.user.info": "u:p", "ssl.ca.location": "/ca.pem", "retries": 5,
    })

    assert (cfg.ssl_ca_location, cfg.retries, cfg.timeout_s) == ("/ca.pem", 5, 10.0)
    assert "u:p" not in repr(cfg) and "u:p" not in str(cfg.model_dump())
    with pytest.raises(ValidationError, match="schema.registry.url"):
        RegistryConfig.model_validate({"url": "http://r", "schema.registry.url": "http://r"})
    with pytest.raises(ValidationError):
        cfg.retries = 1  # type: ignore[misc]


@pytest.mark.parametrize(("settings", "message"), [
    ({"basic.auth.user.info": "u:p", "bearer.auth.token": "t"}, "not both"),
    ({"ssl.key.location": "/k.pem"}, "ssl.key.location needs ssl.certificate.location"),
    ({"bearer.auth.logical.cluster": "lsrc-1"}, "needs bearer.auth.token"),
    ({"retries": -1}, "greater than or equal"),
    ({"timeout_s": 0}, "greater than 0"),
])
def test_config_rejects_contradictory_or_out_of_range_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegistryConfig.model_validate({"url": "http://r:8081", **settings})


@pytest.mark.parametrize(("url", "message"), [
    ("r:8081", "is not an http"),
    ("ftp://r:8081", "ftp://r:8081 is not an http"),
    ("http://r:port", "not a valid URL"),
    (" , ", "no URL given"),
])
def test_bad_urls_are_refused_when_the_client_is_built(url: str, message: str) -> None:
    with pytest.raises(RegistryConfigError, match=message):
        RegistryClient(config(url))


def test_env_references_are_resolved_when_the_client_is_built(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(basic_auth=("svc", PASSWORD))
    cfg = config("http://127.0.0.1:${SR_PORT}", **{"basic.auth.user.info": "${SR_USER}:${SR_PASSWORD}"})

    sr = RegistryClient(cfg, env={"SR_PORT": str(registry.port), "SR_USER": "svc", "SR_PASSWORD": PASSWORD})

    assert sr.url == registry.url
    assert sr.global_compatibility() == "BACKWARD"
    assert cfg.basic_auth_user_info is not None  # the config keeps the reference; only the client resolves it
    assert cfg.basic_auth_user_info.get_secret_value() == "${SR_USER}:${SR_PASSWORD}"


def test_a_missing_env_variable_is_named_and_no_value_is_shown() -> None:
    cfg = config("http://r:8081", **{"basic.auth.user.info": "svc:${SR_PASSWORD}", "ssl.ca.location": "${CA}"})

    with pytest.raises(RegistryConfigError) as info:
        RegistryClient(cfg, env={"CA": "/nonexistent/ca.pem", "OTHER": PASSWORD})

    assert str(info.value) == ("registry settings: basic.auth.user.info: environment variable SR_PASSWORD is not set")
    assert PASSWORD not in str(info.value)


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryConfigError, match=f"ssl.ca.location: no file at {tmp_path}/ca.pem"):
        RegistryClient(config("https://r:8081", **{"ssl.ca.location": str(tmp_path / "ca.pem")}))


def test_basic_auth_user_info_needs_a_colon() -> None:
    with pytest.raises(RegistryConfigError, match="expected the form user:password") as info:
        RegistryClient(config("http://r:8081", **{"basic.auth.user.info": PASSWORD}))
    assert PASSWORD not in str(info.value)


# --- calls and caching --------------------------------------------------------------------------------


def test_schema_by_id_is_fetched_once(registry: FakeRegistry) -> None:
    schema_id = registry.register_direct("orders-value", V1)
    sr = client(registry.url)

    first, second = sr.schema(schema_id), sr.schema(schema_id)

    assert json.loads(first) == json.loads(V1) and second == first
    assert [r.path for r in registry.requests] == [f"/schemas/ids/{schema_id}"]


def test_register_returns_the_registry_id_and_is_cached_per_subject_and_text(registry: FakeRegistry) -> None:
    registry.register_direct("other-value", V2)  # id 1, so the ids below are the registry's, not a counter
    sr = client(registry.url)

    assert sr.register("orders-value", V1) == 2
    assert sr.register("orders-value", V1) == 2
    assert sr.register("orders-value", V2) == 1
    assert sr.lookup("orders-value", V1) == 2  # a fact register already learned: no request
    assert [(r.method, r.path) for r in registry.requests] == [("POST", "/subjects/orders-value/versions")] * 2
    assert registry.requests[0].json() == {"schema": V1}
    assert registry.requests[0].headers["content-type"] == "application/vnd.schemaregistry.v1+json"


def test_lookup_finds_registered_schemas_and_says_none_otherwise(registry: FakeRegistry) -> None:
    registry.register_direct("orders-value", V1)
    sr = client(registry.url)

    assert sr.lookup("orders-value", V1) == 1
    assert sr.lookup("orders-value", V2) is None  # 40403
    assert sr.lookup("nobody-value", V1) is None  # 40401
    registry.register_direct("orders-value", V2)
    assert sr.lookup("orders-value", V2) == 2  # a miss is not cached
    assert len(registry.calls("POST")) == 4


def test_compatibility_of_a_subject_global_and_set(registry: FakeRegistry) -> None:
    sr = client(registry.url)

    assert sr.compatibility("orders-value") is None
    assert sr.global_compatibility() == "BACKWARD"
    assert sr.set_compatibility("orders-value", "full_transitive") == "FULL_TRANSITIVE"
    assert sr.compatibility("orders-value") == "FULL_TRANSITIVE"
    assert sr.compatibility("orders-value") == "FULL_TRANSITIVE"
    assert len(registry.calls("GET", "/config/orders-value")) == 3  # levels can change: never cached
    assert registry.calls("GET", "/config/orders-value")[0].query == ""  # no defaultToGlobal: own level only


def test_subjects_are_quoted_as_one_path_segment(registry: FakeRegistry) -> None:
    sr = client(registry.url)
    subject = "tenant/a b?c%d#e-value"

    assert sr.register(subject, V1) == 1
    assert sr.set_compatibility(subject, "NONE") == "NONE"

    assert registry.requests[0].path == "/subjects/tenant%2Fa%20b%3Fc%25d%23e-value/versions"
    assert registry.requests[1].path == "/config/tenant%2Fa%20b%3Fc%25d%23e-value"
    assert registry.subject_levels == {subject: "NONE"}


def test_source_and_target_registries_are_kept_apart(
    source_registry: FakeRegistry, target_registry: FakeRegistry
) -> None:
    source_id = source_registry.register_direct("orders-value", V1)
    target_registry.register_direct("unrelated-value", V2)
    source, target = client(source_registry.url), client(target_registry.url)

    target_id = target.register("orders-value", source.schema(source_id))

    assert (source_id, target_id) == (1, 2)
    assert len(source_registry.requests) == 1 and len(target_registry.requests) == 1


def test_concurrent_callers_all_get_the_schema(registry: FakeRegistry) -> None:
    registry.register_direct("orders-value", V1)
    sr = client(registry.url)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(sr.schema(1))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 8 and len(set(results)) == 1
    assert 1 <= len(registry.requests) <= 8
    sr.schema(1)
    assert len(registry.requests) <= 8


# --- failures and retries -----------------------------------------------------------------------------


def test_transient_failures_are_retried_with_exponential_backoff(registry: FakeRegistry) -> None:
    registry.register_direct("orders-value", V1)
    registry.fail_next(1, status=503)
    registry.fail_next(1, status=429)
    registry.drop_next(1)
    waits: list[float] = []
    sr = client(registry.url, waits, backoff_s=0.01, backoff_max_s=0.025)

    assert sr.schema(1) == json.dumps(json.loads(V1), separators=(",", ":"))
    assert len(registry.requests) == 4
    assert waits == [0.01, 0.02, 0.025]  # doubled, then capped


def test_persistent_5xx_ends_as_unavailable_with_the_last_status(registry: FakeRegistry) -> None:
    registry.fail_next(10, status=500, error_code=50001)
    waits: list[float] = []

    with pytest.raises(RegistryUnavailable) as info:
        client(registry.url, waits, retries=3).register("orders-value", V1)

    err = info.value
    assert (err.status, err.error_code, err.subject, err.url) == (500, 50001, "orders-value", registry.url)
    assert str(err) == (f"registry {registry.url}, subject orders-value: register: unreachable after 4 attempts "
                        "(last: HTTP 500, error 50001)")
    assert len(registry.requests) == 4 and len(waits) == 3


def test_4xx_answers_are_not_retried(registry: FakeRegistry) -> None:
    registry.register_direct("orders-value", V1)
    sr = client(registry.url, retries=5)

    with pytest.raises(RegistryRejected) as info:
        sr.register("orders-value", NEEDS_DEFAULT)

    err = info.value
    assert (err.status, err.error_code, err.subject) == (409, 40901, "orders-value")
    assert str(err).startswith(f"registry {registry.url}, subject orders-value: register: schema incompatible "
                               "(409, error 40901): Schema being registered is incompatible")
    assert len(registry.calls("POST")) == 1


def test_invalid_schema_and_level_are_rejected_with_their_codes(registry: FakeRegistry) -> None:
    sr = client(registry.url)

    with pytest.raises(RegistryRejected, match=r"register: invalid schema \(422, error 42201\)") as bad_schema:
        sr.register("orders-value", '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(RegistryRejected, match=r"invalid compatibility level \(422, error 42203\)"):
        sr.set_compatibility("orders-value", "SIDEWAYS")
    with pytest.raises(RegistryRejected, match=r"schema id 99: schema not found \(404, error 40403\)"):
        sr.schema(99)
    assert bad_schema.value.error_code == 42201


def test_a_down_registry_is_unavailable_quickly(registry_factory: Callable[..., FakeRegistry]) -> None:
    url = down_url(registry_factory)
    started = time.monotonic()

    with pytest.raises(RegistryUnavailable) as info:
        RegistryClient(config(url, retries=3, backoff_s=0.001)).schema(1)

    assert time.monotonic() - started < 0.5
    assert (info.value.status, info.value.error_code, info.value.subject) == (None, None, None)
    assert str(info.value) == f"registry {url}: schema id 1: unreachable after 4 attempts (last: connection failed)"


def test_a_registry_going_down_and_up_between_calls(registry: FakeRegistry) -> None:
    sr = client(registry.url, retries=0)
    assert sr.register("orders-value", V1) == 1

    registry.down()
    with pytest.raises(RegistryUnavailable):
        sr.register("orders-value", V2)
    registry.up()

    assert sr.register("orders-value", V2) == 2


def test_a_stalled_answer_times_out_and_is_retried(registry: FakeRegistry) -> None:
    registry.register_direct("orders-value", V1)
    registry.stall_next(1, seconds=5)
    sr = client(registry.url, timeout_s=0.1)
    started = time.monotonic()

    assert sr.schema(1)
    assert time.monotonic() - started < 1.0
    assert len(registry.requests) == 2


def test_timeouts_on_every_attempt_end_as_unavailable(registry: FakeRegistry) -> None:
    registry.stall_next(3, seconds=5)

    with pytest.raises(RegistryUnavailable, match=r"unreachable after 2 attempts \(last: timed out\)"):
        client(registry.url, timeout_s=0.05, retries=1).global_compatibility()


def test_a_failed_url_moves_calls_to_the_next_one(
    registry: FakeRegistry, registry_factory: Callable[..., FakeRegistry]
) -> None:
    dead = down_url(registry_factory)
    waits: list[float] = []
    sr = client(f"{dead}, {registry.url}/", waits)

    assert sr.url == f"{dead},{registry.url}"
    assert sr.global_compatibility() == "BACKWARD"
    assert sr.global_compatibility() == "BACKWARD"  # stays on the URL that answered
    assert len(registry.requests) == 2 and len(waits) == 1


# --- credentials --------------------------------------------------------------------------------------


def test_basic_auth_is_sent_and_a_wrong_password_is_rejected_without_showing_it(
    registry_factory: Callable[..., FakeRegistry]
) -> None:
    registry = registry_factory(basic_auth=("svc", PASSWORD))

    assert client(registry.url, **{"basic.auth.user.info": f"svc:{PASSWORD}"}).global_compatibility() == "BACKWARD"
    assert registry.requests[0].headers["authorization"].startswith("Basic ")
    with pytest.raises(RegistryRejected) as info:
        client(registry.url, **{"basic.auth.user.info": "svc:wrong-" + PASSWORD}).register("orders-value", V1)

    assert (info.value.status, info.value.error_code) == (401, 401)
    assert "unauthorized" in str(info.value)
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value)
    assert len(registry.requests) == 2  # 401 is not retried


def test_credentials_in_the_url_are_used_but_never_shown(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(basic_auth=("svc", PASSWORD))
    with_userinfo = registry.url.replace("://", f"://svc:{PASSWORD}@")
    sr = client(with_userinfo)

    assert sr.url == registry.url
    assert sr.global_compatibility() == "BACKWARD"
    registry.fail_next(5, status=503)
    with pytest.raises(RegistryUnavailable) as info:
        client(with_userinfo, retries=1).schema(1)
    assert info.value.url == registry.url and PASSWORD not in str(info.value)
    with pytest.raises(RegistryConfigError, match="credentials in both url and basic.auth.user.info") as both:
        client(with_userinfo, **{"basic.auth.user.info": f"svc:{PASSWORD}"})
    assert PASSWORD not in str(both.value)


def test_bearer_token_and_logical_cluster_are_sent(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(bearer_token=TOKEN)
    sr = client(registry.url, **{"bearer.auth.token": "${SR_TOKEN}", "bearer.auth.logical.cluster": "lsrc-1"},
                env={"SR_TOKEN": TOKEN})

    assert sr.register("orders-value", V1) == 1
    assert registry.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert registry.requests[0].headers["target-sr-cluster"] == "lsrc-1"
    with pytest.raises(RegistryRejected) as info:
        client(registry.url, **{"bearer.auth.token": "not-" + TOKEN}).global_compatibility()
    assert info.value.status == 401 and TOKEN not in str(info.value)


def test_a_registry_message_echoing_a_secret_is_blanked(registry_factory: Callable[..., FakeRegistry]) -> None:
    registry = registry_factory(basic_auth=("svc", PASSWORD))
    registry.force_error("orders-value", 42201, f"bad schema, and by the way your password is {PASSWORD}")

    with pytest.raises(RegistryRejected) as info:
        client(registry.url, **{"basic.auth.user.info": f"svc:{PASSWORD}"}).register("orders-value", V1)

    assert str(info.value).endswith("(422, error 42201): bad schema, and by the way your password is ***")
    assert PASSWORD not in str(info.value)


# --- TLS ----------------------------------------------------------------------------------------------


def tls_settings(pki: Pki, *, client_cert: bool = True) -> dict[str, str]:
    settings = {"ssl.ca.location": str(pki.ca)}
    if client_cert:
        settings |= {"ssl.certificate.location": str(pki.client_cert), "ssl.key.location": str(pki.client_key)}
    return settings


def test_tls_with_the_configured_ca_and_client_certificate(
    registry_factory: Callable[..., FakeRegistry], registry_pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets REQUESTS_CA_BUNDLE override a session's CA; the client must use its own ssl.ca.location.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(Path(pytest.__file__)))
    registry = registry_factory(pki=registry_pki, require_client_cert=True)

    assert client(registry.url, **tls_settings(registry_pki)).register("orders-value", V1) == 1
    assert registry.handler_errors == 0


def test_tls_without_a_client_certificate_or_with_an_unknown_ca_fails_fast(
    registry_factory: Callable[..., FakeRegistry], registry_pki: Pki
) -> None:
    registry = registry_factory(pki=registry_pki, require_client_cert=True)
    waits: list[float] = []

    with pytest.raises(RegistryUnavailable):
        client(registry.url, waits, **tls_settings(registry_pki, client_cert=False)).global_compatibility()
    with pytest.raises(RegistryUnavailable, match="TLS handshake failed") as unknown_ca:
        client(registry.url, waits, retries=3).global_compatibility()  # the system CAs do not know the test CA

    assert unknown_ca.value.status is None and waits == []  # a certificate problem is not retried


def test_a_proxys_html_error_page_is_retried_like_any_5xx(registry: FakeRegistry) -> None:
    registry.reply_next(1, 502, b"<html><body>Bad Gateway</body></html>")

    assert client(registry.url).global_compatibility() == "BACKWARD"
    registry.reply_next(2, 502, b"<html><body>Bad Gateway</body></html>")
    with pytest.raises(RegistryUnavailable, match=r"\(last: HTTP 502\)$"):
        client(registry.url, retries=1).global_compatibility()


@pytest.mark.parametrize(("body", "message"), [
    (b"[1, 2]", r"unexpected answer \(HTTP 200, not a JSON object\)"),
    (b"<html></html>", r"unexpected answer \(HTTP 200, not a JSON object\)"),
    (b'{"schema": 5}', "schema id 1: answer without a schema"),
    (b'{"schema": "syntax = \\"proto3\\";", "schemaType": "PROTOBUF"}',
     "schema id 1 is PROTOBUF; streammask reads Avro only"),
    (b'{"schema": "\\"x.Y\\"", "references": [{"name": "x.Y", "subject": "y", "version": 1}]}',
     "schema id 1 has references"),
])
def test_answers_the_client_cannot_use_are_registry_errors(registry: FakeRegistry, body: bytes, message: str) -> None:
    registry.reply_next(1, 200, body)
    sr = client(registry.url)

    with pytest.raises(RegistryError, match=message) as info:
        sr.schema(1)

    assert type(info.value) is RegistryError
    registry.register_direct("orders-value", V1)
    assert json.loads(sr.schema(1)) == json.loads(V1)  # nothing bad was cached
