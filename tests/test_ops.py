"""ops/: the Prometheus config, alerts and their unit tests through the real promtool; the served /metrics
through ``promtool check metrics``; runbooks, dashboard and SLOs against the metric catalogue.

promtool comes with Debian's ``prometheus`` package (.ci/run installs it). Without it these tests are
skipped, except under CI, where a missing promtool fails them: a green CI must have run them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from streammask.outcome import BlockCode
from streammask.proxy.http import Health, MetricsServer
from streammask.proxy.metrics import Metrics

REPO = Path(__file__).resolve().parent.parent
OPS = REPO / "ops"
PROMETHEUS = OPS / "prometheus"
RUNBOOKS = OPS / "runbooks"
DASHBOARD = OPS / "grafana" / "dashboards" / "streammask.json"
DATASOURCES = OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = OPS / "grafana" / "provisioning" / "dashboards" / "streammask.yml"
AUDIT_VERIFY = OPS / "audit-verify.sh"
SECTIONS = ("Meaning", "Impact", "Diagnosis", "Mitigation")
METRIC_NAME = re.compile(r"\bstreammask_[a-z0-9_]+\b")
CODE_MATCHER = re.compile(r'\bcode\s*(?:=|!=|=~|!~)\s*"([^"]*)"')


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing under CI: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], input=stdin.decode() if stdin is not None else None, capture_output=True,
        text=True, timeout=60, cwd=REPO, check=False,
    )


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


# -- promtool on the files -------------------------------------------------------------------------------


def test_promtool_checks_the_scrape_config_and_the_rules_it_loads() -> None:
    """rule_files is relative: promtool resolves it beside prometheus.yml, as Prometheus does in compose
    (/etc/prometheus/alerts.yml)."""
    checked = run_promtool("check", "config", "ops/prometheus/prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout
    rules = run_promtool("check", "rules", "ops/prometheus/alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in rules.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    tested = run_promtool("test", "rules", "ops/prometheus/alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    """For each alert, alerts.test.yml has an evaluation that expects it firing and one that expects it
    silent (promtool itself checks that they hold)."""
    doc = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), "never expected to fire"
    assert names - silent == set(), "never expected to stay silent"


# -- the served /metrics ---------------------------------------------------------------------------------


def populated() -> Metrics:
    """Every metric of the catalogue with at least one sample."""
    m = Metrics()
    m.records_in.labels("db.public.customers").inc(3)
    m.records_out.labels("db.public.customers").inc(2)
    m.records_blocked.labels("db.public.customers", BlockCode.LEAK_GUARD.value).inc()
    m.values_masked.labels("public.customers", "tokenize").inc(4)
    m.transactions.labels("committed").inc()
    m.batch_seconds.observe(0.2)
    m.commit_seconds.observe(0.01)
    m.end_to_end_delay.observe(1.5)
    m.consumer_lag.labels("db.public.customers", "0").set(7)
    m.last_commit.set(1_700_000_000)
    m.assigned_partitions.set(1)
    m.policy_info.labels("qa-0", "g1", "0" * 64, "2026q4", "4fa88298dfb1641a").set(1)
    m.policy_changed.labels("qa-0", "1" * 64, "0" * 64).set(1_700_000_000)
    m.audit_sequence.labels("qa-0", "g1").set(12)
    return m


@pytest.fixture
def served() -> Iterator[tuple[str, Metrics]]:
    metrics = populated()
    server = MetricsServer("127.0.0.1", 0, metrics.registry, Health())
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics", metrics
    finally:
        server.stop()


def test_served_metrics_pass_promtool_check_metrics(served: tuple[str, Metrics]) -> None:
    url, metrics = served
    families = list(metrics.registry.collect())
    assert all(f.samples for f in families), [f.name for f in families if not f.samples]  # populated() is complete
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read()
    for family in families:
        assert f"# TYPE {family.name}".encode() in body, family.name
    checked = run_promtool("check", "metrics", stdin=body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == checked.stderr.strip() == "", checked.stdout + checked.stderr  # no lint


def audit_verify(tmp_path: Path, group: str, verify_exit: int) -> subprocess.CompletedProcess[str]:
    """ops/audit-verify.sh with a stand-in for ``streammask`` that records its arguments and exits
    ``verify_exit`` (the script is under test, not verify)."""
    stub = tmp_path / "streammask"
    stub.write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "args"}\necho "verify report" \nexit {verify_exit}\n')
    stub.chmod(0o755)
    return subprocess.run(
        [str(AUDIT_VERIFY), group, "--config", "c.yaml", "--since", "2026-01-01T00:00:00Z"],
        env={**os.environ, "STREAMMASK": str(stub)}, capture_output=True, text=True, timeout=30, check=False,
    )


@pytest.mark.parametrize("verify_exit", [0, 1, 2])
def test_audit_verify_script_publishes_verifys_exit_status(tmp_path: Path, verify_exit: int) -> None:
    done = audit_verify(tmp_path, 'qa "east"', verify_exit)
    assert done.returncode == verify_exit
    assert (tmp_path / "args").read_text().split() == [
        "audit", "verify", "--config", "c.yaml", "--since", "2026-01-01T00:00:00Z"]
    assert "verify report" in done.stderr and "verify report" not in done.stdout
    assert f'streammask_audit_verify_exit_code{{group="qa \\"east\\""}} {verify_exit}\n' in done.stdout
    assert re.search(r'^streammask_audit_verify_last_run_timestamp_seconds\{group="qa \\"east\\""\} \d{10}$',
                     done.stdout, re.M)
    checked = run_promtool("check", "metrics", stdin=done.stdout.encode())
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- alerts, runbooks, dashboard and SLOs against the catalogue --------------------------------------------


def test_every_alert_has_severity_summary_and_a_runbook_with_the_four_sections() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"StreamMask(?:[A-Z][a-z0-9]+)+", name), name
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"].strip(), name
        url = rule["annotations"]["runbook_url"]
        assert url.endswith(f"ops/runbooks/{name}.md"), (name, url)
        runbook = RUNBOOKS / f"{name}.md"
        assert runbook.is_file(), runbook
        headings = re.findall(r"^## (.+)$", runbook.read_text(), re.M)
        assert headings == list(SECTIONS), (name, headings)


def test_runbook_links_point_to_existing_files() -> None:
    for page in [*RUNBOOKS.glob("*.md"), OPS / "SLOs.md", OPS / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)


def catalogue() -> set[str]:
    """Sample names Prometheus stores: every metric the proxy serves, and what ops/audit-verify.sh
    publishes."""
    names = {s.name for family in populated().registry.collect() for s in family.samples}
    script = AUDIT_VERIFY.read_text()
    return names | set(re.findall(r"^(streammask_[a-z_]+)\{", script, re.M))


def queries() -> dict[str, str]:
    """Every text that holds PromQL: alert expressions, dashboard queries (and variables), SLO queries,
    runbooks."""
    texts = {f"alert {r['alert']}": r["expr"] for r in alert_rules()}
    texts["dashboard"] = DASHBOARD.read_text()
    texts["SLOs.md"] = (OPS / "SLOs.md").read_text()
    texts |= {f"runbook {p.name}": p.read_text() for p in RUNBOOKS.glob("StreamMask*.md")}
    return texts


def test_alerts_dashboard_and_slos_use_only_catalogued_metrics_and_real_block_codes() -> None:
    known = catalogue()
    # prose may name a histogram by its family name; a query needs its series (_bucket, _count, _sum)
    histograms = {f.name for f in populated().registry.collect() if f.type == "histogram"}
    codes = {c.value for c in BlockCode}
    for where, text in queries().items():
        prose = where.startswith("runbook") or where.endswith(".md")
        unknown = set(METRIC_NAME.findall(text)) - known - (histograms if prose else set())
        assert not unknown, (where, unknown)
        for matcher in CODE_MATCHER.findall(text):
            assert set(matcher.split("|")) <= codes, (where, matcher)
    for rule in alert_rules():
        other = set(re.findall(r"\b([a-z_]+)\{", rule["expr"])) - known
        assert other <= {"up"}, (rule["alert"], other)


def test_dashboard_has_the_panels_and_uses_the_provisioned_datasource() -> None:
    datasource = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"

    dash = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dash["panels"]}
    assert {"Records in and out", "Consumer lag per partition", "Blocked records by code", "Commit latency",
            "End-to-end delay", "Transactions", "Policy and key in force"} <= titles
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    refs = [p["datasource"] for p in dash["panels"]] + [t["datasource"] for p in dash["panels"] for t in p["targets"]]
    refs += [v["datasource"] for v in dash["templating"]["list"]]
    assert all(r == {"type": "prometheus", "uid": datasource["uid"]} for r in refs)
    assert all(p["targets"] and all(t["expr"].strip() for t in p["targets"]) for p in dash["panels"])
    blocked = next(p for p in dash["panels"] if p["title"] == "Blocked records by code")
    assert "sum by (code)" in blocked["targets"][0]["expr"]
    lag = next(p for p in dash["panels"] if p["title"] == "Consumer lag per partition")
    assert "sum by (topic, partition)" in lag["targets"][0]["expr"]
