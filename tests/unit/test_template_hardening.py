"""Production hardening in the deployed shape (template.yaml), where only the template can show it: log groups
with a retention, tables that cannot be deleted by mistake, alarms that can reach someone, throttled open routes,
and least privilege per function."""

from __future__ import annotations

from typing import Any

from local_stack.template import load_template
from tests.support import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE.resources
PARAMETERS = TEMPLATE.parameters


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return TEMPLATE.resources_of_type(resource_type)


FUNCTIONS = of_type("AWS::Serverless::Function")


# ------------------------------------------------------------------------------------ retention, recoverability


def test_every_function_has_a_declared_log_group_with_the_retention_parameter():
    assert PARAMETERS["LogRetentionDays"]["Default"] == 90
    groups = {
        group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]
        for group in of_type("AWS::Logs::LogGroup").values()
    }
    assert FUNCTIONS, "the template has functions"
    for name in FUNCTIONS:
        properties = groups.get(f"/aws/lambda/${{{name}}}")
        assert properties is not None, f"{name} has no declared log group"
        assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_the_api_access_logs_are_kept_as_long_as_the_function_logs():
    (rule,) = RESOURCES["AccessLogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "LogRetentionDays"}


def test_every_table_has_deletion_protection_and_point_in_time_recovery():
    tables = of_type("AWS::DynamoDB::Table")
    assert "KeysTable" in tables
    for name, table in tables.items():
        properties = table["Properties"]
        assert properties.get("DeletionProtectionEnabled") is True, name
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name
        assert table["DeletionPolicy"] == "Retain", name


# ------------------------------------------------------------------------------------ alarms that reach someone

ALARMS_OF_THIS_ACCOUNT = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
ALARM_SOURCE = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {"aws:SourceArn": {"Fn::Sub": ALARMS_OF_THIS_ACCOUNT}},
}


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_never_the_aws_managed_one():
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}, "alias/aws/sns: CloudWatch cannot use its key"
    key = RESOURCES["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {statement["Sid"]: statement for statement in key["Properties"]["KeyPolicy"]["Statement"]}
    admin = statements["AccountAdministers"]
    assert admin["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    cloudwatch = statements["CloudWatchAlarmsOfThisAccountPublish"]
    assert cloudwatch["Effect"] == "Allow"
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == ALARM_SOURCE
    # No one else: only the account (through IAM) and CloudWatch's alarms of this account.
    assert set(statements) == {"AccountAdministers", "CloudWatchAlarmsOfThisAccountPublish"}
    alias = RESOURCES["AlarmTopicKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "AlarmTopicKey"}
    assert alias["AliasName"]["Fn::Sub"].startswith("alias/${AWS::StackName}")


def test_the_topic_policy_lets_cloudwatch_publish_for_this_accounts_alarms_only():
    (policy,) = of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = {statement["Sid"]: statement for statement in policy["Properties"]["PolicyDocument"]["Statement"]}
    publish = statements["CloudWatchAlarmsOfThisAccountPublish"]
    assert publish["Effect"] == "Allow" and publish["Action"] == "sns:Publish"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Condition"] == ALARM_SOURCE
    allows = [statement for statement in statements.values() if statement["Effect"] == "Allow"]
    assert allows == [publish]


def test_every_alarm_notifies_the_topic():
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], name


def test_make_prove_alarms_runs_the_script_and_the_runbook_says_when():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "prove-alarms:" in makefile and "tools.prove_alarms" in makefile
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "make prove-alarms" in operations
    assert "prove alarm delivery after a deploy" in operations.lower()


# ------------------------------------------------------------------------------------ least privilege

# The internet-facing webhook function's policies are another change's (callback intake); every other function's
# are checked here.
EXEMPT = {"InboundFunction"}
BROAD_TEMPLATES = {
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "DynamoDBWritePolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
}
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${AircallCredentialsSecretName}-??????"
)


def transformed() -> dict[str, Any]:
    """The template as CloudFormation sees it after the Serverless transform (with SAM's managed policy names)."""
    from samtranslator.translator.transform import transform  # type: ignore[import-untyped]
    from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-untyped]

    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"

    class ManagedPolicies:
        def load(self) -> dict[str, str]:
            return {
                "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
                "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
                "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
            }

    import os

    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"
    try:
        result: dict[str, Any] = transform(template, {}, ManagedPolicies())
    finally:
        if previous is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous
    return result


TRANSFORMED = transformed()["Resources"]


def role_of(function: str) -> dict[str, Any]:
    role = TRANSFORMED[function]["Properties"]["Role"]
    (logical_id, _) = role["Fn::GetAtt"]
    return dict(TRANSFORMED[logical_id]["Properties"])


def statements_of(function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in role_of(function).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            found.append(statement)
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def refers_to(resource: Any, logical_id: str) -> bool:
    return f"'{logical_id}'" in repr(resource) or "${" + logical_id in repr(resource)


CHECKED = sorted(set(FUNCTIONS) - EXEMPT)


def test_no_function_but_the_webhooks_uses_a_broad_sam_policy_template():
    for name in CHECKED:
        for policy in FUNCTIONS[name]["Properties"].get("Policies", []):
            if isinstance(policy, dict):
                assert not set(policy) & BROAD_TEMPLATES, f"{name}: {set(policy) & BROAD_TEMPLATES}"


def test_no_function_may_scan_or_delete_single_items_from_the_archive_the_contacts_or_the_callbacks_by_accident():
    # Scans are for the small tables whose whole content a route lists (numbers, client keys); deletes only where
    # a route deletes: ManageFunction (opt-ins, withdrawn consents) on the contacts.
    allowed_deletes = {("ManageFunction", "ContactsTable"), ("ManageFunction", "NumbersTable")}
    allowed_deletes |= {(name, "LedgerTable") for name in ("ManageFunction", "QuotaResetFunction", "SendFunction")}
    for name in CHECKED:
        for statement in statements_of(name):
            for table in ("MessagesTable", "ContactsTable", "CallbacksTable", "LedgerTable"):
                if not any(refers_to(resource, table) for resource in resources(statement)):
                    continue
                assert "dynamodb:Scan" not in actions(statement), f"{name} may Scan {table}"
                if (name, table) not in allowed_deletes:
                    assert "dynamodb:DeleteItem" not in actions(statement), f"{name} may DeleteItem on {table}"
            assert "dynamodb:*" not in actions(statement), name


def test_stream_reads_are_scoped_to_the_two_stream_arns_and_no_role_reads_every_stream():
    for logical_id, resource in TRANSFORMED.items():
        if resource["Type"] != "AWS::IAM::Role" or logical_id.startswith("InboundFunction"):
            continue
        managed = repr(resource["Properties"].get("ManagedPolicyArns", []))
        assert "AWSLambdaDynamoDBExecutionRole" not in managed, f"{logical_id} reads every stream of the account"
    streams = {
        "EventsFunction": [
            {"Fn::GetAtt": ["MessagesTable", "StreamArn"]},
            {"Fn::GetAtt": ["ContactsTable", "StreamArn"]},
        ],
        "UsageFunction": [{"Fn::GetAtt": ["MessagesTable", "StreamArn"]}],
        "MediaFunction": [{"Fn::GetAtt": ["MessagesTable", "StreamArn"]}],
    }
    for name, expected in streams.items():
        reading = [statement for statement in statements_of(name) if STREAM_ACTIONS & set(actions(statement))]
        assert reading, f"{name} cannot read its streams"
        for statement in reading:
            assert set(actions(statement)) == STREAM_ACTIONS
            assert resources(statement) == expected, name
    # And every stream mapping reads a stream its function's role names.
    for resource in TRANSFORMED.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and "Stream" in repr(resource["Properties"]):
            # the function's alias `live` (AutoPublishAlias: SnapStart's published versions)
            function = resource["Properties"]["FunctionName"]["Ref"].removesuffix("Aliaslive")
            assert resource["Properties"]["EventSourceArn"] in streams[function]


def test_the_aircall_secret_is_named_exactly_never_by_a_wildcard():
    holders = []
    for name in CHECKED:
        for statement in statements_of(name):
            if "secretsmanager:GetSecretValue" in actions(statement):
                for resource in resources(statement):
                    text = repr(resource)
                    if "AircallCredentialsSecretName" in text:
                        holders.append(name)
                        assert resource == {"Fn::Sub": SECRET_ARN}, f"{name}: {resource}"
                    else:
                        assert resource == {"Ref": "AdminKeySecret"}, f"{name}: {resource}"
    assert set(holders) == {"SendFunction", "QuotaResetFunction", "ManageFunction"}


def test_the_stream_functions_log_only_to_their_own_log_group_and_write_only_what_they_must():
    for name, writes in {
        "EventsFunction": {"events:PutEvents", "sqs:SendMessage"},
        "UsageFunction": {"dynamodb:PutItem", "dynamodb:UpdateItem", "sqs:SendMessage"},
        "MediaFunction": {
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "s3:PutObject",
            "s3:DeleteObject",
            "sqs:SendMessage",
        },
    }.items():
        statements = statements_of(name)
        (logs,) = [statement for statement in statements if statement.get("Sid") == "Logs"]
        assert resources(logs) == [
            {
                "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"
                f"${{AWS::StackName}}-{name}-*:*"
            }
        ]
        granted = {action for statement in statements for action in actions(statement)}
        assert granted == {"logs:CreateLogStream", "logs:PutLogEvents"} | STREAM_ACTIONS | writes, name


# ------------------------------------------------------------------------------------ the open routes


def method_settings() -> dict[tuple[str, str], dict[str, Any]]:
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    return {(entry["ResourcePath"], entry["HttpMethod"]): entry for entry in settings}


def test_the_stage_throttles_every_route_and_the_open_routes_with_their_own_limits():
    settings = method_settings()
    assert (settings[("/*", "*")]["ThrottlingRateLimit"], settings[("/*", "*")]["ThrottlingBurstLimit"]) == (50, 100)
    webhook = settings[("/~1webhooks~1aircall", "POST")]
    assert webhook["ThrottlingRateLimit"] == {"Ref": "WebhookRateLimit"}
    assert webhook["ThrottlingBurstLimit"] == {"Ref": "WebhookBurstLimit"}
    assert (PARAMETERS["WebhookRateLimit"]["Default"], PARAMETERS["WebhookBurstLimit"]["Default"]) == (50, 100)
    health = settings[("/~1health", "GET")]
    assert (health["ThrottlingRateLimit"], health["ThrottlingBurstLimit"]) == (5, 10)
    for console in ("/~1console", "/~1console~1{asset+}"):
        page = settings[(console, "GET")]
        assert (page["ThrottlingRateLimit"], page["ThrottlingBurstLimit"]) == (20, 40)
    assert FUNCTIONS["ConsoleFunction"]["Properties"]["ReservedConcurrentExecutions"] == 3


def test_the_web_acl_is_optional_off_by_default_and_rate_limits_the_webhook_per_ip_on_the_stage():
    assert PARAMETERS["EnableWaf"]["Default"] == "false"
    assert TEMPLATE.body["Conditions"]["HasWaf"] == {"Fn::Equals": [{"Ref": "EnableWaf"}, "true"]}
    acl = RESOURCES["ApiWebAcl"]
    association = RESOURCES["ApiWebAclAssociation"]
    assert acl["Condition"] == association["Condition"] == "HasWaf"
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert acl["Properties"]["DefaultAction"] == {"Allow": {}}
    (rate,) = [rule for rule in acl["Properties"]["Rules"] if "RateBasedStatement" in rule["Statement"]]
    statement = rate["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == {"Ref": "WafWebhookRequestsPer5Minutes"}
    match = statement["ScopeDownStatement"]["ByteMatchStatement"]
    assert (match["FieldToMatch"], match["SearchString"]) == ({"UriPath": {}}, "/webhooks/aircall")
    assert rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": ["ApiWebAcl", "Arn"]}
    # SAM resolves Api.Stage to the stage it creates: the association waits for it.
    (resolved,) = [r for r in TRANSFORMED.values() if r["Type"] == "AWS::WAFv2::WebACLAssociation"]
    assert resolved["Properties"]["ResourceArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${Api}/stages/${ApiStage}"
    }


def routes_of(function: str) -> set[tuple[str, str]]:
    events = FUNCTIONS[function]["Properties"].get("Events") or {}
    return {
        (event["Properties"]["Method"].upper(), event["Properties"]["Path"])
        for event in events.values()
        if event["Type"] == "Api"
    }


def test_health_is_served_by_a_function_that_may_read_only_the_health_key_never_by_the_manage_function():
    from aircall_sms.store import health

    assert ("GET", "/health") not in routes_of("ManageFunction")
    assert routes_of("HealthFunction") == {("GET", "/health")}
    properties = FUNCTIONS["HealthFunction"]["Properties"]
    assert properties["ReservedConcurrentExecutions"] <= 2
    (policy,) = properties["Policies"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["dynamodb:GetItem"]
    assert statement["Resource"] == [{"Fn::GetAtt": ["MessagesTable", "Arn"]}, {"Fn::GetAtt": ["NumbersTable", "Arn"]}]
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [health.HEALTH_KEY]}}
    # Its role is that statement, X-Ray's and the logs': nothing of another table, no secret.
    granted = {action for statement in statements_of("HealthFunction") for action in actions(statement)}
    assert granted == {"dynamodb:GetItem"}


def test_cut_off_number_configurations_are_repaired_on_a_schedule_and_alarmed_when_they_cannot_be():
    from aircall_sms.use_cases import number_repair

    properties = FUNCTIONS["QuotaResetFunction"]["Properties"]
    repair = properties["Events"]["Repair"]
    assert repair["Type"] == "Schedule"
    assert repair["Properties"]["Schedule"] == "rate(5 minutes)"
    assert repair["Properties"]["Input"] == '{"task": "repair"}'
    # Longer than the ManageFunction's timeout: no PUT can still be running on a number this old.
    assert number_repair.CUT_OFF_AFTER.total_seconds() > FUNCTIONS["ManageFunction"]["Properties"]["Timeout"]
    (numbers_statement,) = [
        statement
        for policy in properties["Policies"]
        for statement in policy["Statement"]
        if statement["Sid"] == "Numbers"
    ]
    assert "dynamodb:UpdateItem" in numbers_statement["Action"]
    alarm = RESOURCES["NumbersConfiguringLeftAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["EvaluationPeriods"]) == (
        "NumbersConfiguringLeft",
        "Minimum",
        3,
    )
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_no_metric_math_alarm_reads_more_than_cloudwatchs_ten_metrics():
    """CloudWatch refuses an alarm whose expression reads more than 10 metrics (a hard limit): an eleventh function
    in FunctionErrorsAlarm or FunctionThrottlesAlarm needs a second alarm."""
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm" or "Metrics" not in resource["Properties"]:
            continue
        read = [query for query in resource["Properties"]["Metrics"] if "MetricStat" in query]
        assert len(read) <= 10, name


def test_every_table_is_in_both_dynamodb_throttle_alarms():
    """A throttled KeysTable refuses every keyed request at the authorizer: no table may be left out."""
    tables = {name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::DynamoDB::Table"}
    for alarm in ("DynamoDBReadThrottlesAlarm", "DynamoDBWriteThrottlesAlarm"):
        metrics = RESOURCES[alarm]["Properties"]["Metrics"]
        read = {
            query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for query in metrics if "MetricStat" in query
        }
        assert read == tables, alarm
        (total,) = [query for query in metrics if query.get("ReturnData")]
        ids = {query["Id"] for query in metrics if "MetricStat" in query}
        assert total["Expression"] == f"SUM([{', '.join(query['Id'] for query in metrics if 'MetricStat' in query)}])"
        assert len(ids) == len(tables)
