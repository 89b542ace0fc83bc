"""CORS preflight as API Gateway answers it: no function runs.

On AWS every OPTIONS method in template.yaml is a MOCK integration whose response mapping template (VTL) echoes the
request's Origin when AllowedOrigins lists it. Here that same mapping template runs under airspeed, a Velocity
engine made to match API Gateway's (LocalStack's), with AllowedOrigins taken from ALLOWED_ORIGINS as the functions
see it, so `make dev`, the browser tests and AWS answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import airspeed


class MethodRequest:
    """`$input` of a mapping template, for a request without a body: `$input.params()` and `$input.params(name)`."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = dict(headers)

    def params(self, name: str | None = None):
        if name is None:
            return {"path": {}, "querystring": {}, "header": self.headers}
        return self.headers.get(name, "")


@dataclass(frozen=True)
class MockPreflight:
    status: int
    template: airspeed.Template

    def answer(self, headers: Mapping[str, str]) -> tuple[int, list[tuple[str, str]]]:
        """(status, response headers): the integration response's status unless the template overrides it."""
        override: dict = {"header": {}}
        self.template.merge({"input": MethodRequest(headers), "context": {"responseOverride": override}})
        return int(override.get("status") or self.status), [(k, str(v)) for k, v in override["header"].items()]


def preflights(template: dict, environ: Mapping[str, str]) -> dict[str, MockPreflight]:
    """Path -> its OPTIONS mock, for every path of the template's API that declares one."""
    parameters = parameter_values(template, environ)
    found = {}
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Serverless::Api":
            continue
        paths = resource["Properties"].get("DefinitionBody", {}).get("paths", {})
        for path, methods in paths.items():
            integration = methods.get("options", {}).get("x-amazon-apigateway-integration", {})
            if integration.get("type") != "mock":
                continue
            response = integration["responses"]["default"]
            vtl = resolve(response["responseTemplates"]["application/json"], parameters)
            found[path] = MockPreflight(int(response["statusCode"]), airspeed.Template(vtl))
    return found


def parameter_values(template: dict, environ: Mapping[str, str]) -> dict[str, list[str] | str]:
    """Each Parameter's Default, or the value the functions' environment gives it (ALLOWED_ORIGINS is
    `!Join [",", !Ref AllowedOrigins]` in Globals, so ALLOWED_ORIGINS is AllowedOrigins)."""
    specs = template.get("Parameters", {})
    raw = {name: str(spec.get("Default", "")) for name, spec in specs.items()}
    variables = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for variable, value in variables.items():
        if isinstance(value, dict) and "Fn::Join" in value:
            value = value["Fn::Join"][1]
        name = value.get("Ref") if isinstance(value, dict) else None
        if name in raw and environ.get(variable):
            raw[name] = environ[variable]
    return {
        name: [item.strip() for item in value.split(",") if item.strip()]
        if specs[name].get("Type") == "CommaDelimitedList"
        else value
        for name, value in raw.items()
    }


def resolve(node, parameters: Mapping[str, list[str] | str]):
    """The intrinsic functions a mapping template is built with here: Ref, Fn::Join and Fn::Sub."""
    if not isinstance(node, dict):
        return node
    ((function, argument),) = node.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(str(resolve(item, parameters)) for item in resolve(items, parameters))
    if function == "Fn::Sub":
        text, variables = argument if isinstance(argument, list) else (argument, {})
        values = {**parameters, **{name: resolve(value, parameters) for name, value in variables.items()}}
        return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: str(values[m.group(1)]), text)
    raise ValueError(f"{function} is not resolved by the local preflight")
