"""How much work checking an answer against a caller's JSON Schema can take, bounded before the schema is accepted.

jsonschema-rs checks every branch of a combinator (allOf, anyOf, oneOf, not, if/then/else) against the same value and
follows each `$ref` where it stands: a 2 KB schema whose levels each refer to the next twice takes 2^levels steps,
on the event loop. `cost` counts the schema nodes one check can visit, for a value of each kind (array, object, other)
at each nesting depth, each `$ref` followed where it stands; over MAX_WORK the schema is refused. A value's children
are of any kind, so the most a child can cost is what its parent adds. A recursive schema is counted to MAX_DEPTH
levels of values and a little more (to where its recursion comes round again): its answers nested deeper than that
are refused (`Cost.deepest`)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_WORK = 10_000  # schema nodes one check may visit for the whole answer but what repeats per element
MAX_ITEM_WORK = 1_000  # for each element of an array or entry of an object (an answer has a few thousand at most)
MAX_VISITS = 200_000  # (node, depth) pairs the walk itself may count
MAX_DEPTH = 32  # nesting levels of an answer checked against a recursive schema, at least

SAME_VALUE = ("not", "if", "then", "else")
SAME_VALUE_LISTS = ("allOf", "anyOf", "oneOf")
SAME_VALUE_MAPS = ("dependentSchemas", "dependencies")
ARRAY_CHILDREN = ("items", "additionalItems", "contains")  # each applies to every element
OBJECT_CHILDREN = ("additionalProperties", "propertyNames")  # to every entry
OBJECT_CHILD_MAPS = ("patternProperties",)  # each to every entry whose name matches
# unevaluated* evaluate every applicator of their schema again for each element, compounding per level
REFUSED = ("unevaluatedItems", "unevaluatedProperties")
ARRAY, OBJECT, OTHER = 0, 1, 2
UNFOLLOWED = ("$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor")


class TooComplex(ValueError):
    pass


@dataclass(slots=True)
class Cost:
    work: int  # the most schema nodes one check visits for one value
    deepest: int | None  # answers nested deeper are refused; None: the schema is not recursive


def cost(schema: dict) -> Cost:
    """Raises TooComplex for a schema over MAX_WORK, or one whose `$ref`s go round without a value in between."""
    walk = Walk(schema)
    try:
        work = max(walk.visit(schema, 0))
    except RecursionError:
        raise TooComplex("it nests too deeply to check answers against") from None
    return Cost(work, walk.cut or None)


class Walk:
    def __init__(self, root: dict) -> None:
        self.root = root
        self.memo: dict[tuple[int, int], tuple[int, int, int]] = {}
        self.active: set[tuple[int, int]] = set()
        self.path: list[int] = []  # the schema nodes being visited, outermost first
        self.cut = 0  # the deepest level a recursion was cut at
        self.visits = 0

    def visit(self, node, depth: int) -> tuple[int, int, int]:
        """The nodes one check of `node` visits for an array, an object and any other value at `depth`."""
        if not isinstance(node, dict):
            return (1, 1, 1)
        key = (id(node), depth)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            raise TooComplex("its references go round without a value in between")
        if any(name in node for name in UNFOLLOWED) or ("$id" in node and node is not self.root):
            raise TooComplex("only references of the form #/path are followed here")
        if any(name in node for name in REFUSED):
            raise TooComplex("unevaluatedItems and unevaluatedProperties are not accepted here")
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise TooComplex("it is too large to check answers against")
        self.active.add(key)
        self.path.append(id(node))
        total = [1, 1, 1]
        for sub in self.same_value(node):
            for kind, work in enumerate(self.visit(sub, depth)):
                total[kind] += work
        enum = node.get("enum")
        if isinstance(enum, list):  # a value not in it is compared with every entry
            total = [work + len(enum) for work in total]
        total[ARRAY] += sum(self.below(sub, depth) for sub in children(node, ("prefixItems",), ()))
        total[ARRAY] += sum(self.each(sub, depth) for sub in children(node, ARRAY_CHILDREN, ()))
        total[OBJECT] += sum(self.below(sub, depth) for sub in children(node, (), ("properties",)))
        total[OBJECT] += sum(self.each(sub, depth) for sub in children(node, OBJECT_CHILDREN, OBJECT_CHILD_MAPS))
        self.active.discard(key)
        self.path.pop()
        if max(total) > MAX_WORK:
            raise TooComplex(f"checking an answer against it could take more than {MAX_WORK} steps per value")
        found = self.memo[key] = (total[ARRAY], total[OBJECT], total[OTHER])
        return found

    def same_value(self, node: dict):
        if isinstance(node.get("$ref"), str):
            yield self.resolve(node["$ref"])
        for name in SAME_VALUE:
            if name in node:
                yield node[name]
        yield from children(node, SAME_VALUE_LISTS, SAME_VALUE_MAPS)

    def each(self, node, depth: int) -> int:
        """The work of a subschema checked against every element or entry of a value: bounded on its own."""
        work = self.below(node, depth)
        if work > MAX_ITEM_WORK:
            raise TooComplex(f"checking one element against it could take more than {MAX_ITEM_WORK} steps")
        return work

    def below(self, node, depth: int) -> int:
        """The work of a child value. Past MAX_DEPTH, a node the walk is already in (a recursion) is not entered."""
        if depth >= MAX_DEPTH and id(node) in self.path:
            self.cut = max(self.cut, depth)
            return 1
        return max(self.visit(node, depth + 1))

    def resolve(self, ref: str):
        """A reference within the schema, as a JSON pointer (jsonschema-rs, offline, has refused one outside it)."""
        if (ref != "#" and not ref.startswith("#/")) or "%" in ref:
            raise TooComplex("only references of the form #/path are followed here")
        node = self.root
        for part in ref[2:].split("/") if ref != "#" else ():
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise TooComplex("a reference names nothing in the schema")
        return node


def children(node: dict, singles: tuple[str, ...], maps: tuple[str, ...]):
    """The subschemas under `singles` (one schema or a list of them) and under `maps` (schemas by name)."""
    for name in singles:
        value = node.get(name)
        if isinstance(value, list):
            yield from value
        elif value is not None:
            yield value
    for name in maps:
        value = node.get(name)
        if isinstance(value, dict):
            yield from value.values()


def depth_of(value, limit: int) -> int:
    """How deeply `value` nests arrays and objects, counted up to `limit` + 1."""
    deepest, level, stack = 0, 0, [(value, 0)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            break
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return deepest
