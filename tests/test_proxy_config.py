"""The proxy's config file: validation with file and line, reserved properties, ${ENV}, routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from streammask import topic_names
from streammask.errors import ConfigError
from streammask.proxy.config import RESERVED, InvalidTargetTopic, ProxyConfig, UnroutedTopic, load_config

BASE = """\
source:
  bootstrap.servers: prod:9092
topics: [dbserver1.public.customers]
routing:
  - {match: 'dbserver1\\.(.*)', to: 'staging.\\1'}
policy: policies/p.yaml
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streammask.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[tuple[str | None, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [(p.file, p.line, p.message) for p in info.value.problems]


def test_valid_config_resolves_the_policy_beside_the_file(tmp_path: Path) -> None:
    config, policy = load_config(write(tmp_path, BASE))
    assert policy == tmp_path / "policies" / "p.yaml"
    assert config.same_cluster and config.target_props == config.source
    assert config.route("dbserver1.public.customers") == "staging.public.customers"
    assert config.route("other.topic") is None


def test_a_field_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "on_blocked: drop\nbatch: {max_records: 0}\n")
    found = problems(path)
    assert (str(path), 7, found[0][2]) == found[0] and "on_blocked" in found[0][2]
    assert found[1][:2] == (str(path), 8) and "max_records" in found[1][2]


@pytest.mark.parametrize("prop", sorted(RESERVED))
def test_reserved_properties_are_rejected_on_either_side(tmp_path: Path, prop: str) -> None:
    for side in ("source", "target"):
        text = BASE + "target:\n  bootstrap.servers: qa:9092\n" if side == "target" else BASE
        text = text.replace(f"{side}:\n  bootstrap.servers:", f"{side}:\n  {prop}: x\n  bootstrap.servers:")
        [(file, _, message)] = problems(write(tmp_path, text))
        assert file is not None and f"`{side}` sets {prop}" in message


def test_a_reserved_property_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("  bootstrap.servers: prod:9092\n",
                                        "  bootstrap.servers: prod:9092\n  group.id: mine\n"))
    [(_, line, _)] = problems(path)
    assert line == 3


def test_env_references_are_expanded_and_missing_ones_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = "  sasl.password: ${SM_TEST_PW}\n  sasl.username: u-${SM_TEST_USER}\n"
    text = BASE.replace("  bootstrap.servers: prod:9092\n", "  bootstrap.servers: prod:9092\n" + secrets)
    path = write(tmp_path, text)
    monkeypatch.delenv("SM_TEST_PW", raising=False)
    monkeypatch.delenv("SM_TEST_USER", raising=False)
    messages = [m for _, _, m in problems(path)]
    assert messages == ["config.source.sasl.password: environment variable SM_TEST_PW is not set",
                        "config.source.sasl.username: environment variable SM_TEST_USER is not set"]
    monkeypatch.setenv("SM_TEST_PW", "s3cret")
    monkeypatch.setenv("SM_TEST_USER", "bob")
    config, _ = load_config(path)
    assert config.source["sasl.password"] == "s3cret" and config.source["sasl.username"] == "u-bob"


def test_routing_first_match_wins_and_expands_groups() -> None:
    config = ProxyConfig.model_validate({
        "source": {"bootstrap.servers": "p:1"}, "topic_pattern": r"db\..*", "policy": "p.yaml",
        "routing": [{"match": r"db\.public\.(.*)", "to": r"qa.\1.v1"}, {"match": r"db\.(.*)", "to": r"other.\1"}],
    })
    assert config.route("db.public.customers") == "qa.customers.v1"
    assert config.route("db.inventory.items") == "other.inventory.items"
    assert config.route("xdb.public.customers") is None  # the match is over the whole topic


def test_invalid_route_regex_is_rejected(tmp_path: Path) -> None:
    [(_, line, message)] = problems(write(tmp_path, BASE.replace("'dbserver1\\.(.*)'", "'dbserver1\\.(.*'")))
    assert line == 5 and "not a valid regular expression" in message


@pytest.mark.parametrize(("edit", "expected"), [
    (("topics: [dbserver1.public.customers]\n", ""), "exactly one of `topics`"),
    (("topics: [dbserver1.public.customers]\n", "topics: [a]\ntopic_pattern: 'a.*'\n"), "exactly one of `topics`"),
    (("policy:", "quarantine_topic: q\npolicy:"), "quarantine_topic only applies with on_blocked: skip"),
    (("  bootstrap.servers: prod:9092\n", "  client.id: x\n"), "`source` needs `bootstrap.servers`"),
    (("topics: [dbserver1.public.customers]\n", "topic_pattern: '('\n"), "topic_pattern is not a valid regular"),
])
def test_model_rules(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    messages = " | ".join(m for _, _, m in problems(write(tmp_path, BASE.replace(*edit))))
    assert expected in messages


def test_quarantine_with_skip_is_accepted(tmp_path: Path) -> None:
    config, _ = load_config(write(tmp_path, BASE + "on_blocked: skip\nquarantine_topic: q\n"))
    assert config.quarantine_topic == "q"


def test_a_target_with_another_bootstrap_is_cross_cluster(tmp_path: Path) -> None:
    config, _ = load_config(write(tmp_path, BASE + "target:\n  bootstrap.servers: qa:9092\n"))
    assert not config.same_cluster and config.target_props == {"bootstrap.servers": "qa:9092"}


def test_a_cooperative_assignor_is_rejected_at_its_line(tmp_path: Path) -> None:
    servers = "  bootstrap.servers: prod:9092\n"
    path = write(tmp_path, BASE.replace(servers, servers + "  partition.assignment.strategy: cooperative-sticky\n"))
    [(file, line, message)] = problems(path)
    assert (file, line) == (str(path), 3) and "cooperative rebalancing is not supported" in message


def test_own_topics_are_never_sources_and_patterns_match_whole_names(tmp_path: Path) -> None:
    text = BASE.replace("topics: [dbserver1.public.customers]", "topic_pattern: 'dbserver1\\..*'")
    config, _ = load_config(write(tmp_path, text + "on_blocked: skip\nquarantine_topic: dbserver1.quarantine\n"))
    assert config.subscription() == ["^(dbserver1\\..*)$"]
    assert config.matches("dbserver1.public.customers") and not config.matches("xdbserver1.public.customers")
    assert config.target_topic("dbserver1.public.customers") == "staging.public.customers"
    for own in ("dbserver1.quarantine", "streammask.audit", "streammask.checkpoints"):
        with pytest.raises(UnroutedTopic, match="streammask writes itself"):
            config.target_topic(own)
    with pytest.raises(UnroutedTopic, match="no route maps"):
        config.target_topic("other.topic")


def test_key_rotation_needs_two_different_keys_and_who_approved_it_why(tmp_path: Path) -> None:
    rotation = "key_rotation: {from_key_id: 2026q3, to_key_id: 2026q4, approved_by: dpo@example.com, reason: QA-42}\n"
    config, _ = load_config(write(tmp_path, BASE + rotation))
    assert config.key_rotation is not None and config.key_rotation.from_key_id == "2026q3"
    [(_, line, message)] = problems(write(tmp_path, BASE + rotation.replace("2026q3", "2026q4")))
    assert line == 7 and "`from_key_id` and `to_key_id` are the same" in message
    assert "give `from_fingerprint` and `to_fingerprint` too" in message
    same_id = rotation.replace("2026q3", "2026q4").replace("approved_by", "from_fingerprint: 0123456789abcdef, "
                                                           "to_fingerprint: fedcba9876543210, approved_by")
    config, _ = load_config(write(tmp_path, BASE + same_id))
    assert config.key_rotation is not None
    assert config.key_rotation.fingerprints == "fingerprint 0123456789abcdef -> fedcba9876543210"
    [(_, line, message)] = problems(write(tmp_path, BASE + rotation.replace(", reason: QA-42", "")))
    assert line == 7 and "reason" in message


# -- Kafka's topic-name rules (issue 12) -------------------------------------------------------------


@pytest.mark.parametrize(("name", "rule"), [
    ("", "it is empty"),
    (".", "it is '.'"),
    ("..", "it is '..'"),
    ("a" * 250, "it is 250 characters long; Kafka allows at most 249"),
    ("qa/customers", "it contains a character Kafka does not allow ('/')"),
    ("qa customers:v1", "it contains characters Kafka does not allow (' ', ':')"),
    ("qa.kündigungen", "it contains a character Kafka does not allow ('ü')"),
    ("__consumer_offsets", "it is one of Kafka's internal topics"),
])
def test_kafkas_topic_name_rules(name: str, rule: str) -> None:
    found = topic_names.problem(name)
    assert found is not None and found.startswith(rule), found


def test_legal_names_and_collisions() -> None:
    for name in ("a", "staging.public.customers", "A-b_c.1", "a" * 249, "..."):
        assert topic_names.problem(name) is None, name
    assert topic_names.collisions(["qa.a_b", "qa.a.b", "qa_a.b", "qa.c", "qa.c"]) == [("qa.a.b", "qa.a_b"),
                                                                                     ("qa.a.b", "qa_a.b")]


def config_routing(to: str, topics: list[str] | None = None) -> ProxyConfig:
    return ProxyConfig.model_validate({"source": {"bootstrap.servers": "p:1"}, "topics": topics or ["db.x"],
                                       "policy": "p.yaml", "routing": [{"match": r"db\.(.*)", "to": to}]})


def test_a_routed_target_kafka_refuses_is_refused_where_every_command_asks_for_it() -> None:
    """``run`` (at start and at a pattern-matched topic's first record), ``replay`` and ``validate`` all route through
    ``target_topic``: the name is checked there, before librdkafka's ``Unknown topic``."""
    config = config_routing(r"qa.\1")
    assert config.target_topic("db.public.customers") == "qa.public.customers"
    with pytest.raises(InvalidTargetTopic) as info:
        config.target_topic("db.public.customers:v2")  # a source topic Kafka would not allow either, say
    assert str(info.value) == (
        "route 'db\\.(.*)' -> 'qa.\\1' maps source topic db.public.customers:v2 to 'qa.public.customers:v2', which "
        "is not a legal Kafka topic name: it contains a character Kafka does not allow (':'); Kafka allows only "
        "ASCII letters, digits, '.', '_' and '-'; change the route's `to`")
    assert isinstance(info.value, UnroutedTopic)  # every caller that reports an unrouted topic reports this too
    long_source = "db." + "x" * 247
    with pytest.raises(InvalidTargetTopic, match=r"to 'qa\.x{77}'… \(250 characters\), which is not a legal Kafka "
                                                 r"topic name: it is 250 characters long; Kafka allows at most 249"):
        config.target_topic(long_source)


@pytest.mark.parametrize(("to", "expected"), [
    (r"qa/\1", "route 'dbserver1\\.(.*)' -> 'qa/\\1': no target topic it gives is a legal Kafka topic name: its "
                "literal part contains a character Kafka does not allow ('/')"),
    ("qa.all customers", "no target topic it gives is a legal Kafka topic name: it contains a character Kafka does "
                         "not allow (' ')"),
    ("..", "no target topic it gives is a legal Kafka topic name: it is '..'"),
    (r"\q", "`to` is not a valid replacement for `match`: bad escape \\q"),
    (r"qa.\2", "`to` is not a valid replacement for `match`: invalid group reference 2"),
])
def test_a_route_that_can_only_give_illegal_names_is_refused_at_load_on_its_line(
    tmp_path: Path, to: str, expected: str
) -> None:
    text = BASE.replace("to: 'staging.\\1'", f"to: '{to}'")
    assert text != BASE
    [(_, line, message)] = problems(write(tmp_path, text))
    assert line == 5 and message.startswith("route ") and expected in message, message


def test_own_topic_names_are_checked_at_load(tmp_path: Path) -> None:
    [(_, line, message)] = problems(write(tmp_path, BASE + "audit_topic: 'streammask audit'\n"))
    assert line == 7 and message == ("audit_topic: not a legal Kafka topic name: it contains a character Kafka "
                                     "does not allow (' '); Kafka allows only ASCII letters, digits, '.', '_' and '-'")


def test_targets_that_collide_in_kafkas_metric_names_are_named() -> None:
    config = ProxyConfig.model_validate({
        "source": {"bootstrap.servers": "p:1"}, "topics": ["db.a_b", "db.a.b", "db.c"], "policy": "p.yaml",
        "routing": [{"match": r"db\.(.*)", "to": r"qa.\1"}]})
    assert config.collisions(config.topics or ()) == [
        "target topics qa.a.b and qa.a_b differ only in '.' against '_', which collide in Kafka's metric names: "
        "Kafka refuses to create one while the other exists; route them to names that differ otherwise"]
    assert config.collisions(["db.c"]) == []
