"""The work of checking an answer against a caller's schema is bounded before the schema is accepted (schema_cost):
the schemas clients send pass, a small schema whose check doubles per level does not, and a schema that nests without
end (recursive) has its answers checked to MAX_DEPTH levels."""

import pytest

from airelay.openai_api.schema_cost import MAX_DEPTH, TooComplex, cost, depth_of

PERSON = {  # as the AI SDK's generateObject sends a zod object
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "anyOf": [
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                {"type": "null"},
            ]
        },
    },
    "required": ["name", "age", "tags", "address"],
    "additionalProperties": False,
}
TREE = {  # recursive: a category and its children
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
        }
    },
    "$ref": "#/$defs/node",
}
JSON_VALUE = {  # recursive through anyOf: any JSON value, one branch per kind
    "anyOf": [
        {"type": ["string", "number", "boolean", "null"]},
        {"type": "array", "items": {"$ref": "#"}},
        {"type": "object", "additionalProperties": {"$ref": "#"}},
    ]
}


def doubling(levels: int) -> dict:
    defs = {
        f"d{i}": {"oneOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"not": {"$ref": f"#/$defs/d{i + 1}"}}]}
        for i in range(levels)
    }
    defs[f"d{levels}"] = {"type": "integer"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


def test_the_schemas_clients_send_are_cheap_and_end():
    found = cost(PERSON)
    assert found.work < 50 and found.deepest is None


@pytest.mark.parametrize("schema", [TREE, JSON_VALUE], ids=["tree", "json-value"])
def test_a_recursive_schema_is_accepted_and_its_answers_checked_to_max_depth(schema):
    found = cost(schema)
    assert found.work < 1_000 and MAX_DEPTH <= found.deepest <= MAX_DEPTH + 2


def test_a_check_that_doubles_per_level_is_refused():
    assert cost(doubling(8)).work > 2**8
    with pytest.raises(TooComplex):
        cost(doubling(29))


def test_two_recursive_branches_on_the_same_value_are_refused():
    # anyOf evaluates both branches on every element, and both go down: 2**depth
    schema = {
        "anyOf": [{"type": "array", "items": {"$ref": "#"}, "minItems": 999}, {"type": "array", "items": {"$ref": "#"}}]
    }
    with pytest.raises(TooComplex):
        cost(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"a": {"$anchor": "A", "type": "integer"}}, "$ref": "#A"},
        {"$defs": {"a": {"$id": "https://example.com/a", "type": "integer"}}, "$ref": "#/$defs/a"},
        {"$dynamicRef": "#meta"},
        {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    ],
    ids=["anchor", "nested-id", "dynamic-ref", "loop"],
)
def test_references_it_cannot_follow_are_refused(schema):
    with pytest.raises(TooComplex):
        cost(schema)


def test_depth_of_counts_nesting_and_stops_past_the_limit():
    assert depth_of({"a": [1, {"b": []}]}, 10) == 3
    assert depth_of(1, 10) == 0
    deep: list = []
    for _ in range(500):
        deep = [deep]
    assert depth_of(deep, MAX_DEPTH) == MAX_DEPTH + 1


def test_an_answer_nested_past_max_depth_is_refused_against_a_recursive_schema_only():
    from airelay.openai_api.structured import StructuredOutputInvalid, answer_check

    def tree(levels: int) -> str:
        return '{"name": "x", "children": [' * levels + '{"name": "leaf"}' + "]}" * levels

    check = answer_check({"type": "json_schema", "json_schema": {"name": "tree", "schema": TREE}})
    check(tree(MAX_DEPTH // 2 - 1))
    with pytest.raises(StructuredOutputInvalid, match="deeper"):
        check(tree(MAX_DEPTH // 2 + 2))
    nested = {"type": "string"}
    for _ in range(95):
        nested = {"type": "object", "properties": {"a": nested}}
    assert cost(nested).deepest is None  # not recursive: checked to its end, however deep
    flat = answer_check({"type": "json_schema", "json_schema": {"name": "array", "schema": {"type": "array"}}})
    flat("[" * 100 + "]" * 100)


def test_a_chain_of_references_deeper_than_the_walk_is_refused_not_a_crash():
    defs = {f"d{i}": {"type": "array", "items": {"$ref": f"#/$defs/d{i + 1}"}} for i in range(600)}
    defs["d600"] = {"type": "integer"}
    with pytest.raises(TooComplex):
        cost({"$defs": defs, "$ref": "#/$defs/d0"})
