"""Policy files: model, loading with line numbers, and the published JSON Schema."""

from streammask.policy.loader import LoadedPolicy, load_policy, parse_policy
from streammask.policy.model import Policy

__all__ = ["LoadedPolicy", "Policy", "load_policy", "parse_policy"]
