"""Structured output that survives fallback: the request's response_format is checked, models that cannot answer to
a schema are skipped, and an answer that does not validate is an error (502), never prose passed off as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import jsonschema_rs
from pydantic_core import from_json, to_json

from ..errors import ProviderFailed
from ..settings import Settings
from .errors import BadRequest
from .schema_cost import TooComplex, cost, depth_of

PATTERN_BYTES = 1_000_000  # the compiled size of one `pattern` (the regex crate's default: 10 MB, ~40 ms to build)


class StructuredOutputInvalid(ProviderFailed):
    code = "invalid_structured_output"
    message = "The model's answer did not match the requested format."


def check_response_format(
    response_format: dict | None, where: str = "response_format", schema_at: str = "response_format.json_schema"
) -> dict | None:
    """OpenAI's response_format, checked: text (dropped), json_object, or json_schema with a valid JSON Schema. A
    refusal names the request's own fields: `where` the format, `schema_at` what holds its name and schema."""
    if response_format is None or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise BadRequest(f"'{where}.type' must be text, json_object or json_schema.", param=where)
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
        raise BadRequest(f"'{schema_at}' needs a name and a schema.", param=schema_at)
    try:
        checked_schema(to_json(spec["schema"]))
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        why = f": {exc}" if isinstance(exc, TooComplex) else ", or refers outside itself"
        raise BadRequest(
            f"'{schema_at}.schema' is not a JSON Schema this server can check answers against{why}.",
            param=where,
        ) from None
    return {"type": "json_schema", "json_schema": spec}


@dataclass(frozen=True, slots=True)
class CheckedSchema:
    validator: jsonschema_rs.Validator
    deepest: int | None  # answers nested deeper are refused (schema_cost)


@lru_cache(maxsize=128)
def checked_schema(schema_json: bytes) -> CheckedSchema:
    """The caller's schema, compiled once for every request that sends it: offline, so a `$ref` resolves within the
    schema or not at all (nothing is fetched); each pattern's compiled size bounded (its compile time with it), run
    on a regex engine that never backtracks without bound; the work of one check bounded (schema_cost). Raises
    jsonschema_rs's ValidationError for an invalid schema or a reference it cannot resolve, ValueError for one nested
    too deep, too large a pattern, or too much work."""
    schema = from_json(schema_json)
    validator = jsonschema_rs.validator_for(
        schema,
        offline=True,
        validate_formats=False,  # `format`: an annotation
        pattern_options=jsonschema_rs.FancyRegexOptions(size_limit=PATTERN_BYTES, dfa_size_limit=PATTERN_BYTES),
    )
    return CheckedSchema(validator, cost(schema).deepest)


def answer_check(response_format: dict | None) -> Callable[[str], None] | None:
    """What an answer must be: a JSON object, or valid against the schema; None when any text will do."""
    if response_format is None:
        return None
    schema = response_format.get("json_schema", {}).get("schema")
    checked = checked_schema(to_json(schema)) if schema is not None else None

    def check(text: str) -> None:
        try:
            value = from_json(text)  # nested at most 200 levels, else a ValueError (json.loads: a RecursionError)
        except ValueError:
            raise StructuredOutputInvalid("The model's answer was not JSON.") from None
        if checked is None:
            if not isinstance(value, dict):
                raise StructuredOutputInvalid("The model's answer was not a JSON object.")
            return
        if checked.deepest is not None and depth_of(value, checked.deepest) > checked.deepest:
            raise StructuredOutputInvalid(f"The model's answer nests deeper than {checked.deepest} levels.")
        try:
            valid = checked.validator.is_valid(value)
        except ValueError:  # a string it cannot read, such as a lone surrogate in a key
            valid = False
        if not valid:
            raise StructuredOutputInvalid("The model's answer did not match the requested schema.")

    return check


def capable_models(
    model_ids: tuple[str, ...], response_format: dict | None, settings: Settings, where: str = "response_format"
) -> tuple[str, ...]:
    """The fallback chain without the models that cannot answer to a schema, when the request has one (in `where`)."""
    if response_format is None:
        return model_ids
    capable = tuple(m for m in model_ids if m not in settings.no_structured_output_models)
    if not capable or capable[0] != model_ids[0]:
        raise BadRequest(f"The model '{model_ids[0]}' does not support {where}.", param=where)
    return capable
