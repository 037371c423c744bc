"""The media bucket of inbound MMS files in the deployed shape (template.yaml), where only the template shows it:
private, encrypted, TLS only, expiring with the archive, no versions (an erasure deletes for good); the copy off
the callback's path (its own function on the archive's stream, filtered, retried, then a dead-letter queue that
alarms); and who may touch the objects: the MediaFunction writes, the ManageFunction reads (its links) and
deletes (erasures), nobody else."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_template_hardening import (
    FUNCTIONS,
    RESOURCES,
    TEMPLATE,
    TRANSFORMED,
    actions,
    refers_to,
    resources,
    statements_of,
)

BUCKET = RESOURCES["MediaBucket"]
PROPERTIES = BUCKET["Properties"]


def test_the_bucket_is_private_encrypted_owner_enforced_and_kept_when_the_stack_goes():
    assert PROPERTIES["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert PROPERTIES["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert PROPERTIES["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert (BUCKET["DeletionPolicy"], BUCKET["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # No versions: an erased or expired file must be gone, not kept as a noncurrent version.
    assert "VersioningConfiguration" not in PROPERTIES
    skipped = {skip["id"]: skip["comment"] for skip in BUCKET["Metadata"]["checkov"]["skip"]}
    assert set(skipped) == {"CKV_AWS_18", "CKV_AWS_21"} and all(len(reason) > 80 for reason in skipped.values())


def test_the_bucket_accepts_only_tls():
    policy = RESOURCES["MediaBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "MediaBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": ["MediaBucket", "Arn"]}, {"Fn::Sub": "${MediaBucket.Arn}/*"}]


def test_files_expire_with_the_messages_and_never_while_the_archive_keeps_everything():
    rules = {rule["Id"]: rule for rule in PROPERTIES["LifecycleConfiguration"]["Rules"]}
    retention = rules["media-retention"]
    assert retention["Status"] == {"Fn::If": ["HasMessageRetention", "Enabled", "Disabled"]}
    assert retention["ExpirationInDays"] == {"Fn::If": ["HasMessageRetention", {"Ref": "MessageRetentionDays"}, 1]}
    assert TEMPLATE.body["Conditions"]["HasMessageRetention"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MessageRetentionDays"}, 0]}]
    }
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_the_copy_runs_on_the_archives_stream_for_new_pending_media_with_retries_then_an_alarmed_queue():
    function = FUNCTIONS["MediaFunction"]["Properties"]
    (event,) = function["Events"].values()
    assert event["Type"] == "DynamoDB"
    mapping = event["Properties"]
    assert mapping["Stream"] == {"Fn::GetAtt": ["MessagesTable", "StreamArn"]}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumRetryAttempts"] >= 3  # domain.media.ATTEMPTS, and then some for S3 or DynamoDB
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["MediaDeadLetterQueue", "Arn"]}}
    }
    (pattern,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(pattern["Pattern"]) == {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"media_status": {"S": ["pending"]}}},
    }
    alarm = RESOURCES["MediaDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["MediaDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["AlarmActions"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        [{"Ref": "AlarmTopic"}],
    )
    # The inbound path itself only marks the media pending: it has no access to the bucket.
    assert not [s for s in inbound_statements() if any(action.startswith("s3:") for action in actions(s))]


def inbound_statements() -> list[dict[str, Any]]:
    (policies,) = [FUNCTIONS["InboundFunction"]["Properties"]["Policies"]]
    return [statement for policy in policies for statement in policy["Statement"]]


def test_only_the_media_and_manage_functions_touch_the_objects_and_only_under_media():
    touching: dict[str, set[str]] = {}
    for logical_id, resource in TRANSFORMED.items():
        if resource["Type"] not in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            continue
        document = repr(resource["Properties"])
        if "MediaBucket" in document:
            touching[logical_id] = {
                action
                for policy in resource["Properties"].get("Policies", [])
                for statement in policy["PolicyDocument"]["Statement"]
                if any(refers_to(item, "MediaBucket") for item in resources(statement))
                for action in actions(statement)
            }
    assert touching == {
        "MediaFunctionRole": {"s3:PutObject", "s3:DeleteObject"},
        "ManageFunctionRole": {"s3:GetObject", "s3:DeleteObject"},
    }
    for name in ("MediaFunction", "ManageFunction"):
        (statement,) = [s for s in statements_of(name) if any(refers_to(r, "MediaBucket") for r in resources(s))]
        assert resources(statement) == [{"Fn::Sub": "${MediaBucket.Arn}/media/*"}], name


def test_every_function_knows_the_bucket():
    variables = TEMPLATE.body["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MEDIA_BUCKET"] == {"Ref": "MediaBucket"}
