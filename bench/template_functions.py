"""The functions a template.yaml declares, as the cold start and cost benchmarks need them: each one's code folder,
the modules its entry point imports (uvicorn then app for a function the Lambda Web Adapter serves through run.sh),
its memory and its environment (Globals and its own variables, with the few intrinsic functions resolved and every
parameter at its default), read from this tree's template or from another revision's.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"


def function_specs(template_path: Path | None = None) -> list[dict]:
    """Each function of a template.yaml (this tree's by default): its code folder, entry modules and environment."""
    template = load(template_path or ROOT / "template.yaml")
    params = {name: p.get("Default", "") for name, p in template.get("Parameters", {}).items()}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    specs = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        variables = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        env = {key: str(resolve(value, params, template["Resources"])) for key, value in variables.items()}
        handler = props["Handler"]
        modules = ["uvicorn.main", "app"] if handler.endswith(".sh") else [handler.rsplit(".", 1)[0]]
        specs.append(
            {
                "name": name,
                "code_uri": props["CodeUri"],
                "modules": modules,
                "env": env,
                "memory_mb": props.get("MemorySize", template["Globals"]["Function"].get("MemorySize")),
            }
        )
    return specs


def load(template_path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from local.template import load_template

    return load_template(template_path)


def served_by_web_adapter(template_path: Path, name: str) -> bool:
    """The Lambda Web Adapter runs the function's run.sh (uvicorn) rather than a Python handler."""
    return load(template_path)["Resources"][name]["Properties"]["Handler"].endswith(".sh")


def code_folder(template_path: Path, name: str) -> str:
    """The folder under functions/ of a function of a template.yaml."""
    return load(template_path)["Resources"][name]["Properties"]["CodeUri"].strip("/").removeprefix("functions/")


def resolve(value, params: dict, resources: dict):
    """The few intrinsic functions template.yaml uses in environment variables, with parameters at their defaults."""
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": "123456789012", "AWS::StackName": "airelay-bench"}
    if not isinstance(value, dict):
        return ",".join(map(str, value)) if isinstance(value, list) else value
    ((fn, arg),) = value.items()
    if fn == "Ref":
        if arg in params:
            default = params[arg]
            return ",".join(map(str, default)) if isinstance(default, list) else default
        return pseudo.get(arg, f"airelay-bench-{arg}")
    if fn == "Fn::Join":
        separator, items = arg
        parts = resolve(items, params, resources) if isinstance(items, dict) else items
        parts = parts.split(",") if isinstance(parts, str) else [resolve(p, params, resources) for p in parts]
        return separator.join(map(str, parts))
    if fn == "Fn::Select":
        index, items = arg
        items = resolve(items, params, resources)
        return (items.split(",") if isinstance(items, str) else items)[int(index)]
    if fn == "Fn::Sub":
        text, extra = (arg, {}) if isinstance(arg, str) else arg
        names = {**{k: resolve(v, params, resources) for k, v in extra.items()}}
        out = text
        while "${" in out:
            start = out.index("${")
            end = out.index("}", start)
            key = out[start + 2 : end]
            value = names[key] if key in names else resolve({"Ref": key.split(".")[0]}, params, resources)
            out = out[:start] + str(value) + out[end + 1 :]
        return out
    if fn == "Fn::GetAtt":
        return f"airelay-bench-{arg[0] if isinstance(arg, list) else arg}"
    return str(value)
