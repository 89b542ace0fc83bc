"""The environment a deployed function gets from template.yaml for given Parameter values: the Globals' variables
and the function's own, with !Ref / !Join / !Sub resolved as CloudFormation would (a resource's !Ref becomes a
stand-in name). Only the intrinsic functions template.yaml uses in Environment blocks are evaluated."""

from __future__ import annotations

import re

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "airelay-dev",
}


def parameters(raw: dict, **overrides) -> dict:
    values = {}
    for name, spec in raw["Parameters"].items():
        default = spec.get("Default", "")
        if spec["Type"] == "CommaDelimitedList":
            default = [item.strip() for item in str(default).split(",")]
        values[name] = default
    values.update(overrides)
    return values


def resolve(expr, raw: dict, params: dict):
    if isinstance(expr, bool):
        return "true" if expr else "false"
    if isinstance(expr, int | float):
        return str(expr)
    if isinstance(expr, str):
        return expr
    if isinstance(expr, list):
        return [resolve(e, raw, params) for e in expr]
    ((fn, arg),) = expr.items()
    if fn == "Ref":
        if arg in params:
            value = params[arg]
            return value if isinstance(value, list) else str(value)
        if arg in PSEUDO:
            return PSEUDO[arg]
        return f"stack-{arg}"  # a resource's name or id
    if fn == "Fn::Join":
        sep, items = arg
        items = resolve(items, raw, params)
        flat = []
        for item in items if isinstance(items, list) else [items]:
            flat.extend(item if isinstance(item, list) else [item])
        return sep.join(flat)
    if fn == "Fn::Sub":
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: resolve(v, raw, params) for k, v in names.items()}

        def sub(match):
            name = match.group(1)
            if name in local:
                return local[name]
            return resolve({"Ref": name.split(".")[0]}, raw, params)

        return re.sub(r"\$\{([^}]+)\}", sub, text)
    if fn == "Fn::Select":
        index, items = arg
        return resolve(items, raw, params)[int(index)]
    raise AssertionError(f"{fn} is not evaluated here")


def environment(raw: dict, function: str, params: dict) -> dict[str, str]:
    variables = dict(raw["Globals"]["Function"]["Environment"]["Variables"])
    variables.update(raw["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
    return {name: resolve(value, raw, params) for name, value in variables.items()}


def pattern_accepts(raw: dict, name: str, value) -> bool:
    """Whether CloudFormation accepts `value` for Parameter `name` (AllowedPattern must match the whole value; for a
    CommaDelimitedList, each entry)."""
    spec = raw["Parameters"][name]
    values = value if isinstance(value, list) else [value]
    if "AllowedValues" in spec and any(v not in [str(a) for a in spec["AllowedValues"]] for v in values):
        return False
    pattern = spec.get("AllowedPattern")
    return pattern is None or all(re.fullmatch(pattern, str(v)) for v in values)
