"""CLI commands of the proxy: ``run``, ``validate``, ``lag`` (``demo`` lives in demo.py)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from confluent_kafka import KafkaException

from streammask.bootstrap import open_masker
from streammask.errors import StreamMaskError
from streammask.proxy.config import UnroutedTopic, load_config
from streammask.proxy.http import Health, MetricsServer
from streammask.proxy.lag import lag_rows
from streammask.proxy.metrics import Metrics
from streammask.proxy.runner import Proxy

log = logging.getLogger("streammask.proxy")


def cmd_validate(args: argparse.Namespace) -> int:
    config, policy_path = load_config(args.config)
    setup = open_masker(policy_path)
    for topic in config.topics or ():
        try:
            config.target_topic(topic)
        except UnroutedTopic as exc:
            print(f"error: {args.config}: {exc}", file=sys.stderr)
            return 2
    mode = "same cluster (offsets in the transaction)" if config.same_cluster else "two clusters (checkpoint topic)"
    print(f"{args.config}: config valid; policy {policy_path} (sha256 {setup.loaded.sha256[:12]}…, "
          f"key id {setup.key.key_id}); {config.delivery} delivery, {mode}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config, policy_path = load_config(args.config)
    setup = open_masker(policy_path)
    metrics, health = Metrics(), Health()
    server = MetricsServer(config.metrics.host, config.metrics.port, metrics.registry, health)
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("starting", extra={"fields": {"instance": config.instance_id, "group": config.group_id,
                                           "metrics_port": server.port, "policy_sha256": setup.loaded.sha256,
                                           "key_id": setup.key.key_id, "delivery": config.delivery}})
    proxy = Proxy(config, setup, metrics, health)
    try:
        proxy.prepare()
        proxy.run(stop)
    except StreamMaskError as exc:  # a blocked record (stop), an unrouted topic, failing transactions…
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        print(f"error: Kafka: {exc.args[0].name()}: {exc.args[0].str()}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    log.info("stopped cleanly", extra={"fields": {"instance": config.instance_id}})
    return 0


def cmd_lag(args: argparse.Namespace) -> int:
    config, _ = load_config(args.config)
    rows = lag_rows(config)
    print(f"{'topic':<40} {'partition':>9} {'committed':>12} {'end':>12} {'lag':>10}")
    for topic, partition, pos, end, lag in rows:
        print(f"{topic:<40} {partition:>9} {pos:>12} {end:>12} {lag:>10}")
    print(f"total lag: {sum(r[4] for r in rows)} record(s) over {len(rows)} partition(s)")
    return 0
