"""Schemas built to make an answer's check (or the schema's acceptance) take seconds on the event loop: references
written so that a simpler resolver misses them, unevaluated* under nested combinators, large enums and consts, a
shared node at many depths, a chain of references deeper than Python's recursion. Each is refused, or checked
within a second. Each case runs in a subprocess with a timeout, so a check that would take minutes fails in seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

LIMIT = 1.0  # seconds one check (or checked_schema) may take
TIMEOUT = 20  # seconds a subprocess may run before the case counts as over LIMIT

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import jsonschema_rs
    from pydantic_core import to_json
    from airelay.openai_api.structured import checked_schema

    with open(sys.argv[1]) as f:
        case = json.load(f)
    body = to_json(case["schema"])
    assert len(body) <= 256 * 1024, len(body)
    started = time.perf_counter()
    try:
        checked = checked_schema(body)
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        print(json.dumps({"refused": repr(exc)[:200]}))
        sys.exit(0)
    accepted = time.perf_counter() - started
    print(json.dumps({"accept_seconds": accepted}), flush=True)
    started = time.perf_counter()
    checked.validator.is_valid(case["answer"])
    print(json.dumps({"check_seconds": time.perf_counter() - started}), flush=True)
    """
)


def assert_bounded(tmp_path, schema, answer) -> None:
    """The schema is refused, or accepting it and checking the answer each take under LIMIT."""
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"schema": schema, "answer": answer}))
    assert len(json.dumps(answer)) <= 16_000  # ~4,000 tokens
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        out = done.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        lines = [json.loads(line) for line in out.splitlines() if line.strip()]
        where = "the check" if lines else "checked_schema (compile + cost)"
        raise AssertionError(f"accepted, and {where} ran over {TIMEOUT} s (limit {LIMIT} s): {lines}") from None
    assert done.returncode == 0, done.stderr[-2000:]
    result = {}
    for line in out.splitlines():
        result.update(json.loads(line))
    if "refused" in result:
        return
    assert result["accept_seconds"] < LIMIT, f"checked_schema took {result['accept_seconds']:.2f} s"
    assert result["check_seconds"] < LIMIT, f"is_valid took {result['check_seconds']:.2f} s"


def doubling_chain(levels: int, name, ref) -> dict:
    """Each level's allOf refers to the next level twice: 2^levels steps, if the walk follows the references."""
    defs = {name(i): {"allOf": [{"$ref": ref(i + 1)}, {"$ref": ref(i + 1)}]} for i in range(levels)}
    defs[name(levels)] = {"type": "integer"}
    return {"$defs": defs, "$ref": ref(0)}


def test_percent_encoded_ref_hides_exponential_allOf(tmp_path):
    # "#/$defs/l%200": jsonschema-rs percent-decodes it to the key "l 0"; the walk looks up "l%200", finds nothing,
    # and counts the reference as one node (work 2), so 2^30 steps are accepted. ~1.2 s at 26 levels, ~80 s at 32.
    schema = doubling_chain(30, lambda i: f"l {i}", lambda i: f"#/$defs/l%20{i}")
    assert_bounded(tmp_path, schema, 1)


def test_empty_pointer_segment_ref_hides_exponential_allOf(tmp_path):
    # "#/$defs/l0/": jsonschema-rs follows the empty last segment to the key ""; the walk drops empty segments
    # (filter(None, ...)) and counts $defs/l0 itself, whose only key "" is no keyword.
    defs = {f"l{i}": {"": {"allOf": [{"$ref": f"#/$defs/l{i + 1}/"}] * 2}} for i in range(30)}
    defs["l30"] = {"": {"type": "integer"}}
    assert_bounded(tmp_path, {"$defs": defs, "$ref": "#/$defs/l0/"}, 1)


def test_unevaluated_properties_under_nested_oneOf_is_exponential(tmp_path):
    # 20 levels of {"oneOf": [<level below>, {"required": ["nope"]}], "unevaluatedProperties": {...}}: 1.5 KB,
    # work 62, yet jsonschema-rs re-evaluates the levels below for every level's unevaluatedProperties (~2.6x per
    # level): ~26 s for the answer {"k0": 0}.
    schema: dict = {"properties": {"zz": {}}}
    for _ in range(20):
        schema = {"oneOf": [schema, {"required": ["nope"]}], "unevaluatedProperties": {"type": "integer"}}
    assert_bounded(tmp_path, schema, {"k0": 0})


def test_unevaluated_items_under_nested_oneOf_is_exponential(tmp_path):
    # The same with unevaluatedItems (~1.9x per level): 30 levels, the answer [0, 0].
    schema: dict = {"prefixItems": [{}]}
    for _ in range(30):
        schema = {"oneOf": [schema, {"minItems": 99}], "unevaluatedItems": {"type": "integer"}}
    assert_bounded(tmp_path, schema, [0, 0])


def test_numeric_enum_counts_as_one_node(tmp_path):
    # An enum of 20,000 integers is one node to the walk (work 4), but a non-member number is compared with every
    # entry, ~1.5 us each in jsonschema-rs: 300 answer values take ~9 s.
    schema = {"items": {"anyOf": [{"enum": list(range(20_000))}, True]}}
    assert_bounded(tmp_path, schema, [0.5] * 300)


def test_numeric_consts_within_max_work(tmp_path):
    # Within the bound as designed (3,002 nodes per value): 2,000 numbers each compared with 3,000 numeric consts,
    # 0.4-1.4 us per comparison in jsonschema-rs, take ~8 s. MAX_WORK x a few thousand values is too much.
    schema = {"items": {"anyOf": [{"const": i} for i in range(3000)] + [True]}}
    assert_bounded(tmp_path, schema, [0.5] * 2000)


def test_walk_of_shared_node_at_many_depths(tmp_path):
    # A node with 9,000 properties, referred to from each of 200 levels of an items chain: its work shows only for
    # objects, and each level's items adds the max of the level below, so work stays ~9,200; but the walk memoises
    # per (node, depth) and visits its 9,000 children at each of the 200 depths: 1.8 M Python visits, ~19 s.
    defs: dict = {"big": {"properties": {f"k{i}": {} for i in range(9000)}}}
    for d in range(200):
        defs[f"n{d}"] = {"allOf": [{"$ref": "#/$defs/big"}], "items": {"$ref": f"#/$defs/n{d + 1}"}}
    defs["n200"] = {}
    assert_bounded(tmp_path, {"$defs": defs, "$ref": "#/$defs/n0"}, [])
