"""Policy loading: every validation problem names file, line, table and column and says how to fix it;
the example policies load; sha256 is the file's; keys come from the environment or a file.

Policies are written to ``tmp_path`` so the file name in each problem is a real path. Expected lines are
found by searching the policy text for a marker, so the tests do not break when a header line is added.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from streammask.bootstrap import load_key
from streammask.errors import KeyError_, PolicyError, PolicyProblem
from streammask.policy import LoadedPolicy, load_policy
from streammask.strategies import STRATEGIES

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "policies" / "ecommerce.yaml"

HEAD = """\
version: 1
key: {env: SM_TEST_KEY, id: "k1"}
tables:
"""


# -- helpers --------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the ``occurrence``-th line of ``path`` containing ``needle``."""
    seen = 0
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return n
    raise AssertionError(f"{needle!r} (occurrence {occurrence}) not in {path}")


def problems_of(path: Path) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = info.value.problems
    assert problems, "PolicyError without problems"
    # The exception's own text lists every problem, one per line, as the CLI prints them.
    assert str(info.value).splitlines() == [str(p) for p in problems]
    return problems


def only_problem(path: Path) -> PolicyProblem:
    problems = problems_of(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def assert_where(
    problem: PolicyProblem, path: Path, line: int | None, table: str | None = None, column: str | None = None
) -> None:
    """File, line, table and column are set on the problem and appear in its text, in that order."""
    assert (problem.file, problem.line, problem.table, problem.column) == (str(path), line, table, column), str(
        problem
    )
    text = str(problem)
    prefix = str(path) if line is None else f"{path}:{line}"
    assert text.startswith(prefix + ":") or text.startswith(prefix + ","), text
    if table is not None:
        assert f"table {table}" in text
    if column is not None:
        assert f"column {column}" in text


def field_policy(tmp_path: Path, fields: str, passthrough: str = "[id]") -> Path:
    """One table, public.t, with ``fields`` (YAML lines at the column's indentation)."""
    body = textwrap.indent(textwrap.dedent(fields), "      ")
    return write(tmp_path, HEAD + f"  public.t:\n    passthrough: {passthrough}\n    fields:\n{body}")


# -- the example policies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "policies").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_policy_loads(path: Path) -> None:
    loaded = load_policy(path)
    assert loaded.policy.tables
    assert loaded.source == str(path)


def test_example_policy_content() -> None:
    loaded = load_policy(EXAMPLE)
    policy = loaded.policy
    assert set(policy.tables) == {"public.customers", "public.addresses", "public.orders"}
    assert policy.key.env == "STREAMMASK_KEY" and policy.key.file is None and policy.key.id == "2026q4"
    customers = policy.tables["public.customers"]
    assert customers.fields["tier"].strategy == "keep"
    assert customers.fields["id"].strategy == "tokenize"
    assert "status" in customers.passthrough
    # Every column sharing the customer_id domain has one definition (tokenize, no options).
    users = [
        (t, c) for t, spec in policy.tables.items() for c, f in spec.fields.items()
        if getattr(f, "domain", None) == "customer_id"
    ]
    assert len(users) == 3
    assert policy.events.schema_changes == "block" and policy.events.messages == "block"


def test_example_policy_line_numbers() -> None:
    loaded = load_policy(EXAMPLE)
    assert loaded.field_line("public.customers", "email") == line_of(EXAMPLE, "      email:")
    assert loaded.field_line("public.orders", "card_number") == line_of(EXAMPLE, "card_number:")
    assert loaded.line_of("tables", "public.addresses") == line_of(EXAMPLE, "public.addresses:")
    assert loaded.line_of("key") == line_of(EXAMPLE, "key: {env")


def test_sha256_is_that_of_the_file_bytes(tmp_path: Path) -> None:
    loaded = load_policy(EXAMPLE)
    assert loaded.sha256 == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    # Any byte changes it, even a comment: the audit names exactly the file that was reviewed.
    copy = tmp_path / "copy.yaml"
    copy.write_bytes(EXAMPLE.read_bytes() + b"# reviewed\n")
    other = load_policy(copy)
    assert other.sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert other.sha256 != loaded.sha256
    assert other.policy == loaded.policy


def test_minimal_valid_policy(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough: [id, name]\n")
    loaded = load_policy(path)
    assert isinstance(loaded, LoadedPolicy)
    assert loaded.policy.tables["public.t"].passthrough == ["id", "name"]
    assert loaded.policy.tables["public.t"].fields == {}
    # Defaults: fail closed on schema changes and logical messages, keep only Debezium context headers.
    assert loaded.policy.events.schema_changes == "block"
    assert loaded.policy.events.messages == "block"
    assert loaded.policy.headers.passthrough == ["__debezium.context.*"]


def test_mysql_db_table_names_and_passthrough_shift_entity_are_valid(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  inventory.orders:
    passthrough: [id, customer_id]
    fields:
      placed_at: {strategy: shift, entity: customer_id, max_days: 10}
      shipped_at: {strategy: shift, entity: customer_id, max_days: 10}
""",
    )
    loaded = load_policy(path)
    assert set(loaded.policy.tables["inventory.orders"].fields) == {"placed_at", "shipped_at"}


# -- strategy and option problems ---------------------------------------------------------------------------


def test_unknown_strategy(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "email: {strategy: scramble}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "email:"), "public.t", "email")
    assert "unknown strategy 'scramble'" in p.message
    for name in STRATEGIES:  # the fix: the list of valid names
        assert name in p.message


def test_missing_strategy(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "city: {kind: city}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "city:"), "public.t", "city")
    assert "no `strategy`" in p.message and "tokenize" in p.message


def test_unknown_option(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "notes: {strategy: redact, colour: red}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "notes:"), "public.t", "notes")
    assert "unknown option 'colour'" in p.message
    assert "remove it or check its spelling" in p.message


@pytest.mark.parametrize("column", ["hash", "shift", "bucket", "keep", "redact", "replace", "tokenize"])
def test_problem_in_a_column_named_like_a_strategy_names_that_column(tmp_path: Path, column: str) -> None:
    # A password `hash` or a work `shift` column is ordinary; the problem must still name it.
    path = field_policy(tmp_path, f"{column}: {{strategy: hash, colour: red}}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, f"{column}: {{"), "public.t", column)
    assert "unknown option 'colour'" in p.message


def test_option_out_of_range(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "born: {strategy: shift, entity: id, max_days: 0}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "born:"), "public.t", "born")
    assert "max_days" in p.message and "greater than or equal to 1" in p.message


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ("{strategy: keep}", ["approved_by", "reason"]),
        ("{strategy: keep, reason: 'QA needs it'}", ["approved_by"]),
        ("{strategy: keep, approved_by: dpo@example.com}", ["reason"]),
    ],
    ids=["neither", "no-approver", "no-reason"],
)
def test_keep_needs_approved_by_and_reason(tmp_path: Path, options: str, missing: list[str]) -> None:
    path = field_policy(tmp_path, f"tier: {options}\n")
    problems = problems_of(path)
    assert len(problems) == len(missing)
    for p, option in zip(problems, missing, strict=True):
        assert_where(p, path, line_of(path, "tier:"), "public.t", "tier")
        assert f"option {option!r} is required" in p.message


def test_keep_with_empty_approval_is_rejected(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "tier: {strategy: keep, approved_by: '', reason: ''}\n")
    problems = problems_of(path)
    assert sorted(p.message.split(":")[0] for p in problems) == ["approved_by", "reason"]
    for p in problems:
        assert_where(p, path, line_of(path, "tier:"), "public.t", "tier")


@pytest.mark.parametrize(
    "options", ["{strategy: bucket}", "{strategy: bucket, step: 10, boundaries: [18, 30]}"], ids=["neither", "both"]
)
def test_bucket_needs_exactly_one_of_step_or_boundaries(tmp_path: Path, options: str) -> None:
    path = field_policy(tmp_path, f"age: {options}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "age:"), "public.t", "age")
    assert "exactly one of `step` or `boundaries`" in p.message


def test_bucket_boundaries_must_increase(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "age: {strategy: bucket, boundaries: [30, 18]}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "age:"), "public.t", "age")
    assert "strictly increasing" in p.message


def test_unknown_replace_kind(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "ship: {strategy: replace, kind: spaceship}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "ship:"), "public.t", "ship")
    assert "kind" in p.message
    for valid in ("'first_name'", "'city'", "'phone'", "'company'"):  # the fix: the valid kinds
        assert valid in p.message


def test_unknown_locale(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "city: {strategy: replace, kind: city, locale: xx_YY}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "city:"), "public.t", "city")
    assert "unknown locale 'xx_YY'" in p.message and "en_US" in p.message


def test_known_non_default_locale_is_accepted(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "city: {strategy: replace, kind: city, locale: de_DE}\n")
    assert load_policy(path).policy.tables["public.t"].fields["city"].locale == "de_DE"  # type: ignore[union-attr]


# -- key ----------------------------------------------------------------------------------------------------


def test_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ntables:\n  public.t:\n    passthrough: [id]\n")
    p = only_problem(path)
    assert p.file == str(path) and p.table is None and p.column is None
    assert str(p).startswith(f"{path}")
    assert "no `key`" in p.message
    assert "env: STREAMMASK_KEY" in p.message and "file:" in p.message  # how to add one


@pytest.mark.parametrize(
    "key", ['{env: SM_TEST_KEY, file: key.hex, id: "k1"}', '{id: "k1"}'], ids=["both", "neither"]
)
def test_key_needs_exactly_one_of_env_or_file(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f"version: 1\nkey: {key}\ntables:\n  public.t:\n    passthrough: [id]\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "key:"))
    assert "exactly one of `env`" in p.message and "`file`" in p.message


def test_key_needs_an_id(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nkey: {env: SM_TEST_KEY}\ntables:\n  public.t:\n    passthrough: [id]\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "key:"))
    assert "'id' is required" in p.message


# -- structure ----------------------------------------------------------------------------------------------


def test_column_both_passthrough_and_masked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + "  public.t:\n    passthrough:\n      - id\n      - email\n"
        + "    fields:\n      email: {strategy: redact}\n",
    )
    p = only_problem(path)
    assert_where(p, path, line_of(path, "- email"), "public.t", "email")
    assert "both passthrough and masked" in p.message and "exactly one" in p.message


def test_column_listed_twice_in_passthrough(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough:\n      - id\n      - id\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "- id", occurrence=2), "public.t", "id")
    assert "listed twice" in p.message


def test_duplicate_yaml_key_for_a_column(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "email: {strategy: redact}\nname: {strategy: redact}\nemail: {strategy: hash}\n")
    p = only_problem(path)
    # The second entry is the one to remove; YAML would otherwise silently keep only the last.
    assert_where(p, path, line_of(path, "email:", occurrence=2), "public.t", "email")
    assert "duplicate key 'email'" in p.message


def test_duplicate_yaml_key_for_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough: [id]\n  public.t:\n    passthrough: [id, name]\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "public.t:", occurrence=2), "public.t")
    assert "duplicate key 'public.t'" in p.message


def test_all_duplicate_keys_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  public.a:
    passthrough: [id]
    fields:
      x: {strategy: redact}
      x: {strategy: redact}
  public.b:
    passthrough: [id]
    fields:
      y: {strategy: redact}
      y: {strategy: redact}
""",
    )
    problems = problems_of(path)
    assert [(p.line, p.table, p.column) for p in problems] == [
        (line_of(path, "      x:", 2), "public.a", "x"),
        (line_of(path, "      y:", 2), "public.b", "y"),
    ]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD + "  public.t:\n    passthrough: [id]\n    fields:\n"
        + "      email: strategy: redact\n      name: {strategy: redact}\n",
    )
    p = only_problem(path)
    assert p.file == str(path) and p.line == line_of(path, "email: strategy")
    assert str(p).startswith(f"{path}:{p.line}: ")
    assert "YAML syntax error" in p.message


def test_yaml_syntax_error_unclosed_flow_mapping(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "email: {strategy: redact\nname: {strategy: redact}\n")
    p = only_problem(path)
    assert p.file == str(path) and p.line is not None
    # The scanner notices at the next line at the latest.
    assert line_of(path, "email:") <= p.line <= line_of(path, "name:")
    assert "YAML syntax error" in p.message


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(HEAD.encode() + b"  public.t:\n    passthrough: [\xff]\n")
    p = only_problem(path)
    assert p.file == str(path)
    assert "UTF-8" in p.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just a string\n"], ids=repr)
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    p = only_problem(path)
    assert p.file == str(path)
    assert "YAML mapping with version, key and tables" in p.message


def test_unreadable_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    p = only_problem(path)
    assert p.file == str(path) and "cannot read policy" in p.message


@pytest.mark.parametrize("name", ["customers", ".customers", "public."], ids=repr)
def test_bad_table_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HEAD + f'  "{name}":\n    passthrough: [id]\n')
    p = only_problem(path)
    assert_where(p, path, line_of(path, f'"{name}":'), name)
    assert "schema.table" in p.message and "db.table" in p.message


def test_unknown_top_level_option(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough: [id]\nheaderz: {passthrough: []}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "headerz:"))
    assert "unknown option 'headerz'" in p.message


def test_unknown_table_option(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough: [id]\n    mask: [email]\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "mask:"), "public.t")
    assert "unknown option 'mask'" in p.message


def test_wrong_version_and_empty_tables(tmp_path: Path) -> None:
    path = write(tmp_path, 'version: 2\nkey: {env: SM_TEST_KEY, id: "k1"}\ntables: {}\n')
    problems = problems_of(path)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(1, "version"), (3, "tables")]


def test_bad_events_setting(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "  public.t:\n    passthrough: [id]\nevents: {messages: keep}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "events:"))
    assert "'block', 'pass' or 'redact'" in p.message


# -- shift and domains ---------------------------------------------------------------------------------------


def test_shift_entity_not_classified(tmp_path: Path) -> None:
    path = field_policy(tmp_path, "born: {strategy: shift, entity: customer_id, max_days: 30}\n")
    p = only_problem(path)
    assert_where(p, path, line_of(path, "born:"), "public.t", "born")
    assert "shift entity 'customer_id' is not a classified column" in p.message
    assert "fields or passthrough" in p.message


def test_shift_max_days_differs_for_one_entity_domain_across_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  public.customers:
    passthrough: [name]
    fields:
      id: {strategy: tokenize, domain: customer_id}
      born: {strategy: shift, entity: id, max_days: 90}
  public.orders:
    passthrough: [id]
    fields:
      customer_id: {strategy: tokenize, domain: customer_id}
      placed_at: {strategy: shift, entity: customer_id, max_days: 30}
""",
    )
    p = only_problem(path)
    assert_where(p, path, line_of(path, "placed_at:"), "public.orders", "placed_at")
    assert "max_days differs from public.customers.born" in p.message
    assert "'customer_id'" in p.message and "use one value" in p.message


def test_shift_max_days_differs_within_one_table(tmp_path: Path) -> None:
    path = field_policy(
        tmp_path,
        "placed_at: {strategy: shift, entity: id, max_days: 90}\n"
        "shipped_at: {strategy: shift, entity: id, max_days: 7}\n",
    )
    p = only_problem(path)
    assert_where(p, path, line_of(path, "shipped_at:"), "public.t", "shipped_at")
    assert "max_days differs from public.t.placed_at" in p.message and "'public.t.id'" in p.message


def test_shifts_on_different_entity_domains_may_differ(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  public.a:
    passthrough: [id]
    fields:
      d: {strategy: shift, entity: id, max_days: 90}
  public.b:
    passthrough: [id]
    fields:
      d: {strategy: shift, entity: id, max_days: 7}
""",
    )
    assert load_policy(path).policy.tables["public.b"].fields["d"].max_days == 7  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{strategy: tokenize, domain: cust}", "{strategy: hash, domain: cust}"),
        ("{strategy: hash, domain: cust, length: 8}", "{strategy: hash, domain: cust, length: 16}"),
        (
            "{strategy: replace, kind: city, domain: cust}",
            "{strategy: replace, kind: city, domain: cust, locale: de_DE}",
        ),
    ],
    ids=["strategy", "length", "locale"],
)
def test_one_domain_with_different_strategies_or_options(tmp_path: Path, first: str, second: str) -> None:
    path = write(
        tmp_path,
        HEAD + f"  public.a:\n    fields:\n      x: {first}\n  public.b:\n    fields:\n      y: {second}\n",
    )
    p = only_problem(path)
    assert_where(p, path, line_of(path, "      y:"), "public.b", "y")
    assert "domain 'cust' is used with different strategy or options at public.a.x" in p.message
    assert "use one definition" in p.message


def test_one_domain_with_one_definition_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + "  public.a:\n    fields:\n      x: {strategy: tokenize, domain: cust}\n"
        + "  public.b:\n    fields:\n      y: {strategy: tokenize, domain: cust}\n",
    )
    assert load_policy(path)


# -- reporting everything at once ----------------------------------------------------------------------------


def test_all_model_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  public.a:
    passthrough: [id]
    fields:
      a: {strategy: scramble}
      b: {strategy: redact, colour: red}
  public.b:
    passthrough: [id]
    fields:
      c: {strategy: keep}
      d: {strategy: replace, kind: city, locale: xx_YY}
""",
    )
    problems = problems_of(path)
    got = [(p.line, p.table, p.column) for p in problems]
    assert got == [
        (line_of(path, "a: {"), "public.a", "a"),
        (line_of(path, "b: {"), "public.a", "b"),
        (line_of(path, "c: {"), "public.b", "c"),
        (line_of(path, "c: {"), "public.b", "c"),
        (line_of(path, "d: {"), "public.b", "d"),
    ]
    assert all(p.file == str(path) for p in problems)


def test_all_cross_field_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEAD
        + """\
  customers:
    passthrough: [id]
  public.a:
    passthrough: [id, email]
    fields:
      email: {strategy: redact}
      born: {strategy: shift, entity: nobody, max_days: 9}
      x: {strategy: tokenize, domain: cust}
  public.b:
    passthrough: [id]
    fields:
      y: {strategy: hash, domain: cust}
""",
    )
    problems = problems_of(path)
    got = {(p.line, p.table, p.column) for p in problems}
    assert got == {
        (line_of(path, "customers:"), "customers", None),
        (line_of(path, "passthrough: [id, email]"), "public.a", "email"),
        (line_of(path, "born:"), "public.a", "born"),
        (line_of(path, "      y:"), "public.b", "y"),
    }


# -- keys ------------------------------------------------------------------------------------------------------


def key_policy(tmp_path: Path, key: str) -> Path:
    return write(tmp_path, f"version: 1\nkey: {key}\ntables:\n  public.t:\n    passthrough: [id]\n")


def test_key_from_env_hex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_TEST_KEY", bytes(range(32)).hex())
    key = load_key(load_policy(key_policy(tmp_path, '{env: SM_TEST_KEY, id: "env-1"}')))
    assert key.secret == bytes(range(32))
    assert key.key_id == "env-1"
    assert "SM_TEST_KEY" not in repr(key) and bytes(range(32)).hex() not in repr(key)


def test_key_from_env_raw_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_TEST_KEY", "  correct horse battery staple \n")
    key = load_key(load_policy(key_policy(tmp_path, '{env: SM_TEST_KEY, id: "env-2"}')))
    assert key.secret == b"correct horse battery staple"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_missing_env_key_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("SM_TEST_KEY_MISSING", raising=False)
    else:
        monkeypatch.setenv("SM_TEST_KEY_MISSING", value)
    loaded = load_policy(key_policy(tmp_path, '{env: SM_TEST_KEY_MISSING, id: "env-3"}'))
    with pytest.raises(KeyError_) as info:
        load_key(loaded)
    message = str(info.value)
    assert "environment variable SM_TEST_KEY_MISSING" in message
    assert "'env-3'" in message and "not set or empty" in message


def test_too_short_key_is_rejected_without_showing_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_TEST_KEY", "shortpass")
    with pytest.raises(KeyError_) as info:
        load_key(load_policy(key_policy(tmp_path, '{env: SM_TEST_KEY, id: "env-4"}')))
    assert "at least 16" in str(info.value) and "shortpass" not in str(info.value)


def test_key_file_relative_to_the_policy_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy_dir = tmp_path / "conf"
    (policy_dir / "keys").mkdir(parents=True)
    (policy_dir / "keys" / "mask.key").write_text(bytes(range(40, 72)).hex() + "\n")
    path = key_policy(policy_dir, '{file: keys/mask.key, id: "file-1"}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the policy's directory: the path must not be cwd-relative
    key = load_key(load_policy(path))
    assert key.secret == bytes(range(40, 72)) and key.key_id == "file-1"


def test_key_file_relative_to_a_relative_policy_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy_dir = tmp_path / "conf"
    policy_dir.mkdir()
    (policy_dir / "mask.key").write_text(bytes(range(32)).hex())
    key_policy(policy_dir, '{file: mask.key, id: "file-2"}')
    monkeypatch.chdir(tmp_path)
    key = load_key(load_policy("conf/policy.yaml"))
    assert key.secret == bytes(range(32))


def test_key_file_absolute_path(tmp_path: Path) -> None:
    key_file = tmp_path / "abs.key"
    key_file.write_text(bytes(range(32)).hex())
    policy_dir = tmp_path / "conf"
    policy_dir.mkdir()
    key = load_key(load_policy(key_policy(policy_dir, f'{{file: "{key_file}", id: "file-3"}}')))
    assert key.secret == bytes(range(32))


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    loaded = load_policy(key_policy(tmp_path, '{file: missing.key, id: "file-4"}'))
    with pytest.raises(KeyError_) as info:
        load_key(loaded)
    message = str(info.value)
    assert str(tmp_path / "missing.key") in message and "'file-4'" in message


def test_empty_key_file(tmp_path: Path) -> None:
    (tmp_path / "empty.key").write_text("\n")
    loaded = load_policy(key_policy(tmp_path, '{file: empty.key, id: "file-5"}'))
    with pytest.raises(KeyError_, match="is empty"):
        load_key(loaded)
