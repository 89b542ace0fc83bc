"""template.yaml's stateful resources: the FAQ bucket (private, its uploads trigger the indexer) and its access-log
bucket refuse plain http and keep versions, and they and the usage table outlive the stack.

Read from the template and from the CloudFormation template SAM makes of it (aws-sam-translator in the
SAM CLI's venv, `make .tools/sam/bin/sam`), as `sam deploy` would. Nothing is deployed.
"""

from __future__ import annotations

import json

from tests.support.template import REPO, raw, translated

__all__ = ["raw", "translated"]  # the template fixtures of tests/support/template.py, shared


def test_faq_bucket_is_private_and_its_uploads_trigger_the_indexer(raw, translated):
    bucket = raw["Resources"]["FaqBucket"]["Properties"]
    # GIVEN the FAQ bucket THEN no public access is possible and objects are encrypted
    assert all(
        bucket["PublicAccessBlockConfiguration"][k] is True
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    # AND uploads under the source prefix (only) invoke the indexer, which writes outside that prefix
    indexer = raw["Resources"]["FaqIndexerFunction"]["Properties"]
    trigger = indexer["Events"]["SourceUploaded"]["Properties"]
    prefix = trigger["Filter"]["S3Key"]["Rules"][0]["Value"]
    assert (
        trigger["Bucket"] == {"Ref": "FaqBucket"} and prefix == indexer["Environment"]["Variables"]["FAQ_SOURCE_PREFIX"]
    )
    index_url = indexer["Environment"]["Variables"]["FAQ_INDEX_URL"]["Fn::Sub"]
    assert "/index/" in index_url and f"/{prefix}" not in index_url
    notification = translated["Resources"]["FaqBucket"]["Properties"]["NotificationConfiguration"]
    assert notification["LambdaConfigurations"][0]["Event"] == "s3:ObjectCreated:*"
    # AND the function serving questions reads the same object the indexer writes
    faq_env = raw["Resources"]["FaqFunction"]["Properties"]["Environment"]["Variables"]
    assert faq_env["FAQ_INDEX_URL"] == {"Fn::Sub": "s3://${FaqBucket}/index/faq-index.bin"}
    assert bucket["BucketName"] == {"Fn::Sub": index_url.removeprefix("s3://").split("/")[0]}
    # AND the S3 event in events/ is one the trigger accepts
    event = json.loads((REPO / "events" / "faq_source_put.json").read_text())
    record = event["Records"][0]
    assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated")
    assert record["s3"]["object"]["key"].startswith(prefix)


def test_the_buckets_refuse_plain_http_keep_versions_and_log_access(raw):
    resources = raw["Resources"]
    for bucket, policy in (("FaqBucket", "FaqBucketPolicy"), ("FaqLogBucket", "FaqLogBucketPolicy")):
        properties = resources[bucket]["Properties"]
        # GIVEN each bucket THEN it keeps object versions and refuses any request not over TLS
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, bucket
        assert resources[policy]["Properties"]["Bucket"] == {"Ref": bucket}
        [deny] = [s for s in resources[policy]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert (deny["Principal"], deny["Action"]) == ("*", "s3:*"), bucket
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, bucket
        assert {json.dumps(r, sort_keys=True) for r in deny["Resource"]} == {
            json.dumps({"Fn::GetAtt": [bucket, "Arn"]}),
            json.dumps({"Fn::Sub": f"${{{bucket}.Arn}}/*"}),
        }
        assert all(properties["PublicAccessBlockConfiguration"].values()), bucket
    # AND the FAQ bucket's access is logged to the log bucket, which expires logs after the retention
    logging = resources["FaqBucket"]["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": "FaqLogBucket"}
    [expiry] = resources["FaqLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert expiry["ExpirationInDays"] == {"Ref": "AccessLogRetentionDays"}
    [delivery] = [
        s
        for s in resources["FaqLogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Resource"] == {"Fn::Sub": f"${{FaqLogBucket.Arn}}/{logging['LogFilePrefix']}*"}


def test_the_usage_table_and_the_buckets_outlive_the_stack(raw):
    for name in ("UsageTable", "FaqBucket", "FaqLogBucket"):
        # GIVEN the stateful resources THEN deleting the stack or replacing them keeps the data
        assert raw["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert raw["Resources"][name]["UpdateReplacePolicy"] == "Retain", name
