"""template.yaml and Lambda SnapStart: every function serves published versions through its alias, which every
event source calls; a change of the function or of the core layer publishes a new version. Read from the
CloudFormation template SAM makes of it (aws-sam-translator, as `sam deploy` would)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.template import FUNCTIONS, SAM_PYTHON, TEMPLATE, api_paths, raw, run, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared

ALIAS = "live"
LWA_SNAPSTART_LAYER = 30  # Lambda Web Adapter v1.1.0: the first with SnapStart hooks


def versions_after(change: str) -> set[str]:
    """The logical ids of the Lambda versions SAM makes of template.yaml after `change` ("core-layer": another
    build of layers/core, "chat-timeout": another Timeout of the chat function, a property SAM leaves out of a
    version's hash unless AutoPublishAliasAllProperties is set)."""
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class NoManagedPolicies:\n"
        "    def load(self): return {}\n"
        "tpl = yaml_parse(open(sys.argv[1]).read())\n"
        "for name, res in tpl['Resources'].items():\n"
        "    props = res.get('Properties', {})\n"
        "    for key in ('CodeUri', 'ContentUri'):\n"
        "        if isinstance(props.get(key), str):\n"
        "            changed = sys.argv[2] == 'core-layer' and name == 'CoreLayer'\n"
        "            props[key] = 's3://bucket/' + props[key].strip('/') + ('-2' if changed else '')\n"
        "if sys.argv[2] == 'chat-timeout':\n"
        "    tpl['Resources']['ChatFunction']['Properties']['Timeout'] = 300\n"
        "out = transform(tpl, {}, NoManagedPolicies())\n"
        "print(json.dumps([k for k, r in out['Resources'].items() if r['Type'] == 'AWS::Lambda::Version']))\n"
    )
    result = run([SAM_PYTHON, "-c", script, TEMPLATE, change])
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_function_snapshots_its_published_versions(translated):
    resources = translated["Resources"]
    for name in FUNCTIONS:
        # GIVEN each function WHEN SAM translates it THEN SnapStart is on, with a version and the alias
        assert resources[name]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}, name
        alias = resources[f"{name}Alias{ALIAS}"]
        assert alias["Type"] == "AWS::Lambda::Alias" and alias["Properties"]["Name"] == ALIAS
        version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        # AND a replaced version is deleted, with its snapshot, rather than kept (and billed) forever
        assert resources[version_id]["DeletionPolicy"] == "Delete", name


def test_snapstart_is_used_only_where_aws_supports_it(raw):
    # GIVEN the functions WHEN their settings are read THEN none uses what SnapStart does not support
    globals_ = raw["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"  # Python 3.12 and later
    for name in FUNCTIONS:
        props = raw["Resources"][name]["Properties"]
        assert "ProvisionedConcurrencyConfig" not in props, name
        assert "FileSystemConfigs" not in props, name  # EFS
        assert props.get("EphemeralStorage", {}).get("Size", 512) <= 512, name
        assert props.get("Runtime", globals_["Runtime"]) == "python3.12", name


def test_every_api_route_calls_the_alias(translated):
    # GIVEN the API's integrations and the permissions that let API Gateway invoke the functions
    called = set()
    for path, methods in api_paths(translated).items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            if integration["type"] == "mock":
                continue  # CORS preflight
            # WHEN a route's target is read THEN it is a function's alias, never the function ($LATEST)
            uri = integration["uri"]["Fn::Sub"]
            found = re.search(r"/functions/\$\{(\w+)Alias" + ALIAS + r"\}/", uri)
            assert found, f"{method.upper()} {path}: {uri}"
            called.add(found.group(1))
    # (the indexer is called by S3; the key authorizer by API Gateway before a route, through its alias too: below)
    assert called == set(FUNCTIONS) - {"FaqIndexerFunction", "KeyAuthorizerFunction"}
    permissions = [r for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permissions
    for permission in permissions:
        assert permission["Properties"]["FunctionName"]["Ref"].endswith(f"Alias{ALIAS}")


def test_faq_uploads_invoke_the_indexers_alias(translated):
    # GIVEN the FAQ bucket's notification WHEN its target is read THEN it is the indexer's alias
    [target] = translated["Resources"]["FaqBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert target["Function"] == {"Ref": f"FaqIndexerFunctionAlias{ALIAS}"}


@pytest.mark.parametrize(
    ("change", "republished"),
    [
        pytest.param("core-layer", set(FUNCTIONS), id="core-layer"),  # airelay's own code lives in the layer
        pytest.param("chat-timeout", {"ChatFunction"}, id="function-property"),
    ],
)
def test_a_change_publishes_new_versions_of_the_functions_it_touches(change, republished):
    # GIVEN the versions SAM makes of the template as it is
    before = versions_after("none")
    # WHEN the change is made THEN exactly the functions it touches get new versions (and their aliases follow)
    after = versions_after(change)
    changed = {v.split("Version")[0] for v in after - before}
    assert changed == republished


def test_the_chat_function_runs_a_web_adapter_with_snapstart_hooks(raw):
    props = raw["Resources"]["ChatFunction"]["Properties"]
    # GIVEN the Lambda Web Adapter layer WHEN its version is read THEN it carries SnapStart's hooks to the app
    [adapter] = [layer["Fn::Sub"] for layer in props["Layers"] if "LambdaAdapterLayerArm64" in str(layer)]
    assert int(adapter.rsplit(":", 1)[1]) >= LWA_SNAPSTART_LAYER
    # AND it knows where to POST them (airelay/snapstart.py serves whatever paths these name)
    variables = props["Environment"]["Variables"]
    before = variables["AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"]
    after = variables["AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"]
    assert before.startswith("/_snapstart/") and after.startswith("/_snapstart/") and before != after
