"""Reads template.yaml: the functions, their code folders, handlers, timeouts, literal environment and API routes (with
their integration timeout and authorizer), and the API's own properties."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LAMBDA_DEFAULT_TIMEOUT_S = 3.0  # a function's Timeout when neither it nor Globals says
INTEGRATION_DEFAULT_TIMEOUT_S = 29.0  # API Gateway's, for a route without TimeoutInMillis


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
class Authorizer:
    """A REQUEST authorizer: the Lambda function that runs it, the headers of its identity source, and how long API
    Gateway keeps its answer for those headers' values (`ReauthorizeEvery`, 300 s unless set; 0: not kept)."""

    function: str
    headers: tuple[str, ...]
    ttl_s: int = 300


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    streaming: bool
    pattern: re.Pattern = field(compare=False)
    timeout_s: float = INTEGRATION_DEFAULT_TIMEOUT_S  # the integration's
    api_key_required: bool = False
    authorizer: Authorizer | None = None

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
    timeout_s: float = LAMBDA_DEFAULT_TIMEOUT_S
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


def resolved(value, template: dict):
    """A property's value, with a !Ref to a Parameter read as the Parameter's Default."""
    if isinstance(value, dict) and "Ref" in value:
        return template.get("Parameters", {}).get(value["Ref"], {}).get("Default")
    return value


def api_properties(template: dict) -> dict:
    """The Properties of the template's REST API (the first AWS::Serverless::Api), {} when it has none."""
    apis = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::Serverless::Api"]
    return apis[0].get("Properties", {}) if apis else {}


def authorizers(api: dict) -> dict[str, Authorizer]:
    found = {}
    for name, declared in api.get("Auth", {}).get("Authorizers", {}).items():
        arn = declared.get("FunctionArn", {})
        function = arn.get("Ref") or (arn.get("Fn::GetAtt") or [""])[0]  # KeyAuthorizerFunction.Alias, or GetAtt
        identity = declared.get("Identity", {})
        headers = tuple(h.lower() for h in identity.get("Headers", []))
        found[name] = Authorizer(function.split(".")[0], headers, int(identity.get("ReauthorizeEvery", 300)))
    return found


def api_route(event: dict, api: dict, template: dict) -> Route:
    """An Api event's route, with what the API's Auth and the event's own Auth say about it."""
    auth = {**api.get("Auth", {}), **event.get("Auth", {})}
    authorizer = event.get("Auth", {}).get("Authorizer") or api.get("Auth", {}).get("DefaultAuthorizer")
    timeout_ms = resolved(event.get("TimeoutInMillis"), template)
    return Route(
        event["Method"].upper(),
        event["Path"],
        event.get("ResponseTransferMode") == "RESPONSE_STREAM",
        route_pattern(event["Path"]),
        timeout_s=timeout_ms / 1000 if timeout_ms else INTEGRATION_DEFAULT_TIMEOUT_S,
        api_key_required=bool(auth.get("ApiKeyRequired")),
        authorizer=authorizers(api).get(authorizer),
    )


def functions(template: dict | None = None) -> list[Function]:
    template = template or load_template()
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    default_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S)
    api = api_properties(template)
    found = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        routes = []
        for event in props.get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            routes.append(api_route(event["Properties"], api, template))
        found.append(
            Function(
                name=name,
                code_dir=ROOT / props["CodeUri"],
                handler=props["Handler"],
                routes=tuple(routes),
                timeout_s=float(resolved(props.get("Timeout", default_timeout), template)),
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
