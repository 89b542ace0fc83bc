"""Reads template.yaml: the functions, their code folders, handlers, literal environment and API routes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub, ...) as {"Fn::...": value}."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    streaming: bool
    pattern: re.Pattern = field(compare=False)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Function:
    name: str
    code_dir: Path
    handler: str
    routes: tuple[Route, ...]
    environment: dict[str, str] = field(default_factory=dict, compare=False)  # its literal template variables

    @property
    def web_adapter(self) -> bool:
        """Served by the Lambda Web Adapter (an ASGI app behind uvicorn) rather than a Mangum handler."""
        return self.handler.endswith(".sh")


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text("utf-8"), Loader=_CfnLoader)


def route_pattern(path: str) -> re.Pattern:
    regex = ""
    for piece in re.split(r"(\{[^}]+\})", path):
        if piece.startswith("{") and piece.endswith("+}"):
            regex += f"(?P<{piece[1:-2]}>.+)"
        elif piece.startswith("{"):
            regex += f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            regex += re.escape(piece)
    return re.compile(regex)


def literal_variables(variables: dict) -> dict[str, str]:
    """The variables whose values are written in the template. A !Ref'd Parameter is the operator's to set (locally in
    the shell or .env; the settings' defaults otherwise), and the Lambda Web Adapter's own variables configure the
    adapter, whose part the local API plays."""
    adapter = ("AWS_LWA_", "AWS_LAMBDA_EXEC_WRAPPER")
    return {k: str(v) for k, v in variables.items() if not isinstance(v, dict) and not k.startswith(adapter)}


def functions(template: dict | None = None) -> list[Function]:
    template = template or load_template()
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    found = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        routes = []
        for event in props.get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            ev = event["Properties"]
            streaming = ev.get("ResponseTransferMode") == "RESPONSE_STREAM"
            routes.append(Route(ev["Method"].upper(), ev["Path"], streaming, route_pattern(ev["Path"])))
        found.append(
            Function(
                name=name,
                code_dir=ROOT / props["CodeUri"],
                handler=props["Handler"],
                routes=tuple(routes),
                environment=literal_variables({**shared, **props.get("Environment", {}).get("Variables", {})}),
            )
        )
    return found


def shared_environment(found: list[Function]) -> dict[str, str]:
    """The functions' literal variables together, for the one process of the local API that runs them all. Two
    functions that give one variable different values could not share it: a ValueError names the variable."""
    merged: dict[str, str] = {}
    for function in found:
        for name, value in function.environment.items():
            if merged.setdefault(name, value) != value:
                raise ValueError(f"{name} differs between functions; the local API runs them in one process")
    return merged
