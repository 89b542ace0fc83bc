"""template.yaml: the usage report's role may query only the day counters (DAY#...), as its comment and
docs/architecture.md ("a Query by the item's whole key, the one read the usage function is allowed") say."""

from tests.support.template import raw  # noqa: F401 - the template fixture, shared


def test_the_usage_functions_query_is_held_to_the_day_counters(raw):  # noqa: F811
    # GIVEN the usage function's own statement on the UsageTable
    policies = raw["Resources"]["UsageFunction"]["Properties"]["Policies"]
    statements = [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    [query] = [s for s in statements if s["Action"] == "dynamodb:Query"]
    assert query["Resource"] == {"Fn::GetAtt": ["UsageTable", "Arn"]}
    # THEN, like the lease sweep's Query (LEASE#*), it is held to the partitions it reads: the day counters.
    # Without the condition the report's role may also read every caller's call rows (CALLS#<day>: identities,
    # request ids, models, costs) and the lease records, which no report needs.
    assert query.get("Condition") == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["DAY#*"]}}
