"""The policy's JSON Schema, generated from the pydantic model (``schemas/policy.schema.json``)."""

from __future__ import annotations

import orjson

from streammask.policy.model import Policy

SCHEMA_ID = "https://github.com/streammask/streammask/schemas/policy.schema.json"


def policy_json_schema() -> str:
    schema = Policy.model_json_schema()
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
