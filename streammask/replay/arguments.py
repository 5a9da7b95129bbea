"""``streammask replay``'s options, apart from the command so that building the CLI parser loads no Kafka
client (the offline commands never need one)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="proxy config YAML (source, topics, routing, policy)")
    parser.add_argument("--from", dest="from_spec", default="earliest",
                        help="earliest (default), TOPIC:PARTITION:OFFSET[,...], or an ISO-8601 time with its offset")
    parser.add_argument("--to", dest="to_spec", default="end",
                        help="end (default: the end offsets when the replay starts), TOPIC:PARTITION:OFFSET[,...] "
                             "(exclusive), or an ISO-8601 time")
    parser.add_argument("--output", help="write kcat -J lines to this file instead of the target topics")
    parser.add_argument("--manifest", help="where to write the manifest (default: OUTPUT.manifest.json, or "
                                           "replay-<id>.manifest.json without --output)")
    parser.add_argument("--verify", metavar="MANIFEST", help="re-read, re-mask and compare with this manifest")
