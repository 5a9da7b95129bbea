"""The masking strategies, one module each; ``STRATEGIES`` is the explicit registry by policy name."""

from __future__ import annotations

from streammask.strategies.base import Strategy
from streammask.strategies.bucket import Bucket
from streammask.strategies.format_preserve import FormatPreserve
from streammask.strategies.hash import Hash
from streammask.strategies.keep import Keep
from streammask.strategies.redact import Redact
from streammask.strategies.replace import Replace
from streammask.strategies.shift import Shift
from streammask.strategies.tokenize import Tokenize

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (Replace(), FormatPreserve(), Redact(), Shift(), Bucket(), Hash(), Tokenize(), Keep())
}

__all__ = ["STRATEGIES", "Strategy"]
