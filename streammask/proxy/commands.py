"""CLI commands of the proxy: ``run``, ``validate``, ``lag`` (``demo`` lives in demo.py)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from confluent_kafka import KafkaException

from streammask.bootstrap import MaskingSetup, open_masker
from streammask.codec.avro import AvroCodec
from streammask.errors import StreamMaskError
from streammask.proxy.config import ProxyConfig, UnroutedTopic, load_config
from streammask.proxy.http import Health, MetricsServer
from streammask.proxy.lag import lag_rows
from streammask.proxy.metrics import Metrics
from streammask.proxy.preflight import address, preflight
from streammask.proxy.runner import Proxy
from streammask.proxy.watchdog import Watchdog

log = logging.getLogger("streammask.proxy")


def _open(config: ProxyConfig, policy_path: Path) -> MaskingSetup:
    return open_masker(policy_path, config.format, config.key_format, config.schema_registry)


def _wire(config: ProxyConfig, setup: MaskingSetup) -> str:
    """The wire format in one phrase, registries by the clients' URLs (never with credentials)."""
    formats = config.format if config.key_format in (None, config.format) else (
        f"{config.format} values, {config.key_format} keys")
    avro = next((c for c in setup.codecs if isinstance(c, AvroCodec)), None)
    if avro is None:
        return formats
    return f"{formats} (schemas from {avro.source.url}, output ids from {avro.target.url}, {avro.subjects} subjects)"


def cmd_validate(args: argparse.Namespace) -> int:
    config, policy_path = load_config(args.config)
    setup = _open(config, policy_path)
    setup.close()
    for topic in config.topics or ():
        try:
            config.target_topic(topic)
        except UnroutedTopic as exc:
            print(f"error: {args.config}: {exc}", file=sys.stderr)
            return 2
    for warning in config.collisions(config.topics) if config.topics is not None else ():
        print(f"warning: {args.config}: {warning}", file=sys.stderr)
    mode = "same cluster (offsets in the transaction)" if config.same_cluster else "two clusters (checkpoint topic)"
    rotation = config.key_rotation
    if rotation is not None and rotation.to_key_id != setup.key.key_id:
        print(f"error: {args.config}: key_rotation.to_key_id is {rotation.to_key_id!r}, but the policy's key id "
              f"is {setup.key.key_id!r}; correct it or remove key_rotation", file=sys.stderr)
        return 2
    if rotation is not None and rotation.to_fingerprint not in (None, setup.key.fingerprint):
        print(f"error: {args.config}: key_rotation.to_fingerprint is {rotation.to_fingerprint}, but the key in force "
              f"has fingerprint {setup.key.fingerprint}; correct it or remove key_rotation", file=sys.stderr)
        return 2
    acknowledged = f"; acknowledges key rotation {rotation.from_key_id} -> {rotation.to_key_id}" if rotation else ""
    if rotation is not None and rotation.fingerprints:
        acknowledged += f" ({rotation.fingerprints})"
    print(f"{args.config}: config valid; policy {policy_path} (sha256 {setup.loaded.sha256[:12]}…, "
          f"key id {setup.key.key_id}, fingerprint {setup.key.fingerprint}); {config.delivery} delivery, {mode}; "
          f"{_wire(config, setup)}{acknowledged}")
    if args.offline:
        return 0
    found = preflight(config)
    for problem in found.problems:
        print(f"error: {args.config}: {problem}", file=sys.stderr)
    if not found.ok:
        return 1
    for topic in found.source_topics:
        try:
            config.target_topic(topic)  # a topic the pattern matches must be routed too
        except UnroutedTopic as exc:
            print(f"error: {args.config}: {exc}", file=sys.stderr)
            return 1
    for warning in config.collisions(found.source_topics) if config.topics is None else ():
        print(f"warning: {args.config}: {warning}", file=sys.stderr)
    print(f"{args.config}: source cluster ({address(config.source)}) holds the {len(found.source_topics)} source "
          f"topic(s): {', '.join(found.source_topics)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config, policy_path = load_config(args.config)
    setup = _open(config, policy_path)
    # /healthz says "stalled" at half the watchdog's timeout: a supervisor that probes it acts first
    metrics, health = Metrics(), Health(stall_after_s=config.watchdog_timeout_s / 2)
    server = MetricsServer(config.metrics.host, config.metrics.port, metrics.registry, health,
                           f"metrics.port in {args.config}")
    server.start()
    stop = threading.Event()
    watchdog = Watchdog(idle=health.idle, stall_s=config.watchdog_timeout_s, shutdown_s=config.shutdown_timeout_s,
                        failing=health.failing)
    watchdog.on_signals(stop)  # SIGTERM/SIGINT: stop gracefully, or exit 1 after shutdown_timeout_s
    watchdog.start()
    log.info("starting", extra={"fields": {"instance": config.instance_id, "group": config.group_id,
                                           "metrics_port": server.port, "policy_sha256": setup.loaded.sha256,
                                           "key_id": setup.key.key_id, "delivery": config.delivery,
                                           "format": _wire(config, setup)}})
    try:
        proxy = Proxy(config, setup, metrics, health, watchdog=watchdog)
        proxy.prepare()
        proxy.run(stop)
    except StreamMaskError as exc:  # a blocked record (stop), an unrouted topic, failing transactions…
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        print(f"error: Kafka: {exc.args[0].name()}: {exc.args[0].str()}", file=sys.stderr)
        return 1
    finally:
        watchdog.stopping("the run ended")  # what is left (closing the server, the registry) is bounded too
        server.stop()
        setup.close()
        watchdog.close()
    log.info("stopped cleanly", extra={"fields": {"instance": config.instance_id}})
    return 0


def cmd_lag(args: argparse.Namespace) -> int:
    config, _ = load_config(args.config)
    found = preflight(config, check_target=not config.same_cluster)
    if found.problems and not found.source_topics:
        for problem in found.problems:
            print(f"error: {args.config}: {problem}", file=sys.stderr)
        return 1
    try:
        rows = lag_rows(config)
    except KafkaException as exc:  # the cluster went away between the two calls
        err = exc.args[0]
        print(f"error: {args.config}: Kafka: {err.name()}: {err.str()}", file=sys.stderr)
        return 1
    print(f"{'topic':<40} {'partition':>9} {'committed':>12} {'end':>12} {'lag':>10}")
    for topic, partition, pos, end, lag in rows:
        print(f"{topic:<40} {partition:>9} {pos:>12} {end:>12} {lag:>10}")
    print(f"total lag: {sum(r[4] for r in rows)} record(s) over {len(rows)} partition(s)")
    for problem in found.problems:  # e.g. a listed topic missing: the others' lag is still worth seeing
        print(f"error: {args.config}: {problem}", file=sys.stderr)
    return 1 if found.problems else 0
