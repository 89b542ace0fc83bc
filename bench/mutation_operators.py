"""Which mutants `python -m bench.mutation` makes in a file: cosmic-ray's operators that `kept` lets through (selective
mutation), never in annotations or decorators and, when a target names functions, only inside those. A mutant is an
operator, its occurrence in the file and the line it changes.
"""

from __future__ import annotations

import ast
from pathlib import Path

# Selective mutation: one replacement per arithmetic operator and the boundary and negation of each comparison,
# instead of every operator for every operator (which multiplies the mutants by ten and adds no new test demand).
BINARY = {
    "Add": "Sub",
    "Sub": "Add",
    "Mul": "Div",
    "Div": "Mul",
    "FloorDiv": "Mul",
    "Mod": "FloorDiv",
    "Pow": "Mul",
    "LShift": "RShift",
    "RShift": "LShift",
    "BitOr": "BitAnd",
    "BitAnd": "BitOr",
    "BitXor": "BitOr",
}
COMPARISON = {
    "Lt": ("LtE", "GtE"),
    "LtE": ("Lt", "Gt"),
    "Gt": ("GtE", "LtE"),
    "GtE": ("Gt", "Lt"),
    "Eq": ("NotEq",),
    "NotEq": ("Eq",),
    "Is": ("IsNot",),
    "IsNot": ("Is",),
    "In": ("NotIn",),
    "NotIn": ("In",),
}


def kept(operator: str) -> bool:
    kind, _, pair = operator.removeprefix("core/").partition("_")
    if kind == "ReplaceBinaryOperator":
        source, target = pair.split("_")
        return BINARY.get(source) == target
    if kind == "ReplaceComparisonOperator":
        source, target = pair.split("_")
        return target in COMPARISON.get(source, ())
    if kind == "ReplaceUnaryOperator":
        return pair.startswith("Delete_") or pair == "USub_UAdd"
    return kind not in ("VariableReplacer", "VariableInserter", "RemoveDecorator")


def skipped_spans(source: str, only: tuple[str, ...]) -> tuple[list, list]:
    """What is not mutated: annotations (never evaluated: every module has `from __future__ import annotations`) and
    decorators (dataclass options, abstractmethod, cache: a dropped one fails at import or changes no answer); and,
    with `only`, the line ranges of the functions to mutate."""
    tree = ast.parse(source)
    annotations, wanted = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.returns:
                annotations.append(node.returns)
            args = node.args
            annotations += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation]
            annotations += [a.annotation for a in (args.vararg, args.kwarg) if a and a.annotation]
            annotations += node.decorator_list
            if node.name in only:
                wanted.append((node.lineno, node.end_lineno))
        elif isinstance(node, ast.ClassDef):
            annotations += node.decorator_list
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    spans = [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in annotations]
    return spans, wanted


def mutants(path: Path, only: tuple[str, ...]) -> list[dict]:
    from cosmic_ray import plugins
    from cosmic_ray.ast import ast_nodes, get_ast_from_path

    spans, wanted = skipped_spans(path.read_text(), only)
    module = get_ast_from_path(path)
    found = []
    for name in plugins.operator_names():
        operator_class = plugins.get_operator(name)
        if operator_class.arguments() or not kept(name):
            continue
        operator = operator_class()
        positions = [start for node in ast_nodes(module) for start, _ in operator.mutation_positions(node)]
        for occurrence, start in enumerate(positions):
            if any(a <= start <= b for a, b in spans) or (only and not any(a <= start[0] <= b for a, b in wanted)):
                continue
            found.append({"operator": name, "occurrence": occurrence, "line": start[0]})
    return sorted(found, key=lambda m: (m["line"], m["operator"], m["occurrence"]))
