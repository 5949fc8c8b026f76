"""The security and operations properties of the CloudFormation template serverless.yml packages to.

Reads .serverless/cloudformation-template-update-stack.json (deploy/check.py makes it). Conditions are
CloudFormation conditions, so one template holds every variant: a property is checked on the resource
that carries it, whatever the parameters will be.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from notifier.state.dynamodb_table import TTL_ATTRIBUTE

from .support import actions, as_list, branches, get_att, load_template, resources, statements

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
RULE_COMMON = LOGS | {"config:PutEvaluations", "config:GetResourceConfigHistory"}
RETIRES_VANISHED = {"config:GetComplianceDetailsByConfigRule"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
POLICY_DOCUMENTS = {"iam:GetAccountAuthorizationDetails", "iam:GetPolicy", "iam:GetPolicyVersion"}

# Each role's complete action set (X-Ray's two only when EnableTracing=true, in every role).
EXPECTED_ACTIONS = {
    "NotifierRole": LOGS
    | XRAY
    | {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "ses:SendEmail",
        "ses:GetAccount",
        "lambda:InvokeFunction",
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "s3:GetObject",
    },
    "RemediationRole": LOGS
    | XRAY
    | {
        "iam:ListUsers",
        "iam:ListAttachedUserPolicies",
        "iam:ListUserPolicies",
        "iam:GetUserPolicy",
        "iam:DetachUserPolicy",
        "iam:DeleteUserPolicy",
        "sqs:SendMessage",
    },
    "RuleStandardizedIamPoliciesRole": RULE_COMMON
    | RETIRES_VANISHED
    | XRAY
    | {
        "iam:ListUsers",
        "iam:ListAttachedUserPolicies",
        "iam:ListUserPolicies",
        "iam:ListGroupsForUser",
        "iam:ListAttachedGroupPolicies",
        "iam:ListGroupPolicies",
    },
    "RuleCriticalManagedPoliciesRole": RULE_COMMON
    | RETIRES_VANISHED
    | XRAY
    | {"iam:ListPolicies", "iam:ListPolicyVersions", "iam:GetPolicyVersion"},
    # Periodic only, on the account: no oversized items to fetch, no vanished resources to retire.
    "RulePasswordPolicyRole": LOGS | XRAY | {"config:PutEvaluations", "iam:GetAccountPasswordPolicy"},
    "RuleEc2RolesWithoutIamRole": RULE_COMMON | RETIRES_VANISHED | XRAY | POLICY_DOCUMENTS,
    "RuleNoRoleModifiesSgsRole": RULE_COMMON | RETIRES_VANISHED | XRAY | POLICY_DOCUMENTS,
    "RuleNoCreateUserOrRoleRole": RULE_COMMON | RETIRES_VANISHED | XRAY | POLICY_DOCUMENTS,
    "ConfigRecorderRole": {"s3:GetBucketAcl", "s3:PutObject", "sns:Publish"},
    "ForwardComplianceChangesRole": {"events:PutEvents"},
}

# Actions that have no resource-level permissions at all (the Service Authorization Reference lists no
# resource type for them): the only ones a statement may grant on Resource "*".
RESOURCE_STAR_ONLY = XRAY | {
    "config:PutEvaluations",
    "config:GetResourceConfigHistory",
    "iam:ListUsers",
    "iam:ListPolicies",
    "iam:GetAccountPasswordPolicy",
    "iam:GetAccountAuthorizationDetails",
    "ses:GetAccount",
}

FUNCTIONS = {
    "NotifierLambdaFunction": ("notifier.handler.lambda_handler", "NotifierRole", "NotifierEnabled"),
    "RemediationLambdaFunction": (
        "notifier.rules.remediate_standardized_iam_policies.lambda_handler",
        "RemediationRole",
        "RemediationEnabled",
    ),
    "RuleStandardizedIamPoliciesLambdaFunction": (
        "notifier.rules.standardized_iam_policies.lambda_handler",
        "RuleStandardizedIamPoliciesRole",
        "RulesEnabled",
    ),
    "RuleCriticalManagedPoliciesLambdaFunction": (
        "notifier.rules.critical_managed_policies_unchanged.lambda_handler",
        "RuleCriticalManagedPoliciesRole",
        "RulesEnabled",
    ),
    "RulePasswordPolicyLambdaFunction": (
        "notifier.rules.password_policy.lambda_handler",
        "RulePasswordPolicyRole",
        "RulesEnabled",
    ),
    "RuleEc2RolesWithoutIamLambdaFunction": (
        "notifier.rules.ec2_roles_without_iam_privileges.lambda_handler",
        "RuleEc2RolesWithoutIamRole",
        "RulesEnabled",
    ),
    "RuleNoRoleModifiesSgsLambdaFunction": (
        "notifier.rules.no_role_modifies_security_groups.lambda_handler",
        "RuleNoRoleModifiesSgsRole",
        "RulesEnabled",
    ),
    "RuleNoCreateUserOrRoleLambdaFunction": (
        "notifier.rules.no_create_user_or_role.lambda_handler",
        "RuleNoCreateUserOrRoleRole",
        "RulesEnabled",
    ),
}

CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"
# rule -> (function, resource types in scope, message types, InputParameters keys)
CONFIG_RULES = {
    "StandardizedIamPoliciesRule": (
        "RuleStandardizedIamPoliciesLambdaFunction",
        ["AWS::IAM::User"],
        [CHANGE, OVERSIZED, SCHEDULED],
        {"desiredPolicyName", "exceptionList", "includeGroupPolicies"},
    ),
    "CriticalManagedPoliciesRule": (
        "RuleCriticalManagedPoliciesLambdaFunction",
        ["AWS::IAM::Policy"],
        [CHANGE, OVERSIZED, SCHEDULED],
        {"approvedVersions"},
    ),
    "PasswordPolicyRule": (
        "RulePasswordPolicyLambdaFunction",
        None,
        [SCHEDULED],
        {"MinimumPasswordLength", "PasswordReusePrevention", "MaxPasswordAge"},
    ),
    "Ec2RolesWithoutIamPrivilegesRule": (
        "RuleEc2RolesWithoutIamLambdaFunction",
        ["AWS::IAM::Role"],
        [CHANGE, OVERSIZED, SCHEDULED],
        {"exceptionList", "includeServiceLinkedRoles"},
    ),
    "NoRoleModifiesSecurityGroupsRule": (
        "RuleNoRoleModifiesSgsLambdaFunction",
        ["AWS::IAM::Role"],
        [CHANGE, OVERSIZED, SCHEDULED],
        {"exceptionList", "includeServiceLinkedRoles"},
    ),
    "NoCreateUserOrRoleRule": (
        "RuleNoCreateUserOrRoleLambdaFunction",
        ["AWS::IAM::User", "AWS::IAM::Group", "AWS::IAM::Role"],
        [CHANGE, OVERSIZED, SCHEDULED],
        {"exceptionList", "includeServiceLinkedRoles"},
    ),
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def res(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = template["Resources"]
    return resources


def props(res: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = res[name]["Properties"]
    return properties


# -- intake ------------------------------------------------------------------------------------------------


def test_the_subscription_filters_on_the_message_body(res: dict[str, dict[str, Any]]) -> None:
    subscription = res["ConfigTopicSubscription"]
    assert subscription["Condition"] == "UseSns"
    p = subscription["Properties"]
    assert p["Protocol"] == "sqs"
    assert p["Endpoint"] == get_att("IntakeQueue")
    assert p["FilterPolicyScope"] == "MessageBody"
    assert p["FilterPolicy"] == {"messageType": ["ComplianceChangeNotification"]}
    assert p["RawMessageDelivery"] is False  # the SNS MessageId de-duplicates redeliveries
    # The topic may be another account's or another region's: the subscription is made in its region.
    assert {"Fn::Select": [3, {"Fn::Split": [":", {"Ref": "ConfigTopicArn"}]}]} in list(branches(p["Region"]))


def test_the_intake_queue_admits_only_the_config_topic_and_the_rule(res: dict[str, dict[str, Any]]) -> None:
    document = props(res, "IntakeQueuePolicy")["PolicyDocument"]
    allows = [s for s in branches_of(document["Statement"]) if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in allows} == {"sns.amazonaws.com", "events.amazonaws.com"}
    for statement in allows:
        assert statement["Action"] == "sqs:SendMessage"
        assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]
    assert_tls_only(document)


def test_the_sqs_event_source_reports_batch_item_failures(res: dict[str, dict[str, Any]]) -> None:
    (mapping,) = resources({"Resources": res}, "AWS::Lambda::EventSourceMapping").values()
    p = mapping["Properties"]
    assert mapping["Condition"] == "NotifierEnabled"
    assert p["EventSourceArn"] == get_att("IntakeQueue")
    assert p["FunctionName"] == get_att("NotifierLambdaFunction")
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 < p["MaximumBatchingWindowInSeconds"] <= 300
    assert 1 <= p["BatchSize"] <= 10
    assert p["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_the_intake_queue_redrives_to_the_dead_letter_queue(res: dict[str, dict[str, Any]]) -> None:
    queue = props(res, "IntakeQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == get_att("DeadLetterQueue")
    assert 1 <= queue["RedrivePolicy"]["maxReceiveCount"] <= 10
    # AWS: at least six times the function's timeout, or a retried batch is redelivered while it runs.
    assert queue["VisibilityTimeout"] >= 6 * props(res, "NotifierLambdaFunction")["Timeout"]
    assert props(res, "DeadLetterQueue")["MessageRetentionPeriod"] == 14 * 24 * 3600
    environment = props(res, "NotifierLambdaFunction")["Environment"]["Variables"]
    assert environment["NOTIFIER_DEAD_LETTER_QUEUE"] == {"Ref": "DeadLetterQueue"}  # its URL


def test_the_eventbridge_intake_feeds_the_same_queue(res: dict[str, dict[str, Any]]) -> None:
    rule = res["ComplianceChangeRule"]
    assert rule["Condition"] == "UseEventBridge"
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.config"]
    assert pattern["detail-type"] == ["Config Rules Compliance Change"]
    assert pattern["detail"] == {"messageType": ["ComplianceChangeNotification"]}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == get_att("IntakeQueue")
    assert target["DeadLetterConfig"]["Arn"] == get_att("DeadLetterQueue")


def test_every_queue_is_encrypted(res: dict[str, dict[str, Any]]) -> None:
    queues = resources({"Resources": res}, "AWS::SQS::Queue")
    assert set(queues) == {"IntakeQueue", "DeadLetterQueue", "RemediationFailureQueue"}
    for name, queue in queues.items():
        p = queue["Properties"]
        assert p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p, name
    assert_tls_only(props(res, "DeadLetterQueuePolicy")["PolicyDocument"])


def test_the_created_config_topic_admits_config_for_this_account_or_the_organization(
    res: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    assert res["ConfigTopic"]["Condition"] == "CreateTopic"
    assert "KmsMasterKeyId" not in props(res, "ConfigTopic")  # Config cannot publish to an encrypted topic
    document = props(res, "ConfigTopicPolicy")["PolicyDocument"]
    allows = [s for s in branches_of(document["Statement"]) if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in allows} == {"config.amazonaws.com"}
    assert [next(iter(s["Condition"]["StringEquals"])) for s in allows] == ["aws:SourceAccount", "aws:SourceOrgID"]
    assert template["Conditions"]["CreateTopic"] == {
        "Fn::And": [{"Condition": "UseSns"}, {"Fn::Not": [{"Condition": "HasConfigTopicArn"}]}]
    }
    bus_policy = props(res, "OrganizationBusPolicy")["Statement"]
    assert bus_policy["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


# -- state ---------------------------------------------------------------------------------------------------


def test_the_state_table(res: dict[str, dict[str, Any]]) -> None:
    table = res["StateTable"]
    p = table["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    environment = props(res, "NotifierLambdaFunction")["Environment"]["Variables"]
    assert environment["NOTIFIER_STATE"] == {"Fn::Sub": "dynamodb://${StateTable}"}


# -- functions and roles -------------------------------------------------------------------------------------


def test_every_function_runs_python312_on_arm64_with_its_own_role(res: dict[str, dict[str, Any]]) -> None:
    functions = resources({"Resources": res}, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for name, (handler, role, condition) in FUNCTIONS.items():
        p = functions[name]["Properties"]
        assert p["Handler"] == handler
        assert p["Role"] == get_att(role)
        assert p["Runtime"] == "python3.12"
        assert p["Architectures"] == ["arm64"]
        assert p["TracingConfig"] == {"Mode": {"Fn::If": ["TracingEnabled", "Active", "PassThrough"]}}
        assert functions[name]["Condition"] == res[role]["Condition"] == condition
    assert len({spec[1] for spec in FUNCTIONS.values()}) == len(FUNCTIONS)  # no role is shared
    assert "IamRoleLambdaExecution" not in res  # the framework's shared role is not created


def test_every_role_grants_exactly_its_actions(res: dict[str, dict[str, Any]]) -> None:
    roles = resources({"Resources": res}, "AWS::IAM::Role")
    assert set(roles) == set(EXPECTED_ACTIONS)
    for name, expected in EXPECTED_ACTIONS.items():
        assert actions(roles[name]) == expected, name


def test_no_wildcard_action_and_resource_star_only_where_aws_requires_it(res: dict[str, dict[str, Any]]) -> None:
    for name, role in resources({"Resources": res}, "AWS::IAM::Role").items():
        for statement in statements(role):
            assert statement["Effect"] == "Allow", name
            assert "NotAction" not in statement and "NotResource" not in statement, name
            granted = as_list(statement["Action"])
            assert not any("*" in action for action in granted), (name, granted)
            if "*" in as_list(statement["Resource"]):
                assert set(granted) <= RESOURCE_STAR_ONLY, (name, granted)


def test_the_notifier_role_is_scoped_to_its_own_resources(res: dict[str, dict[str, Any]]) -> None:
    by_sid = {s["Sid"]: s for s in statements(res["NotifierRole"])}
    assert by_sid["ReadTheIntakeQueue"]["Resource"] == get_att("IntakeQueue")
    assert by_sid["DeadLetterWithReason"]["Resource"] == get_att("DeadLetterQueue")
    assert by_sid["State"]["Resource"] == get_att("StateTable")
    assert by_sid["SendEmailFromTheIdentity"]["Action"] == "ses:SendEmail"
    assert by_sid["SendEmailFromTheIdentity"]["Resource"][0] == {"Ref": "SesIdentityArn"}
    assert by_sid["InvokeThisStacksRemediation"]["Resource"] == get_att("RemediationLambdaFunction")
    assert by_sid["InvokeNamedRemediations"]["Resource"] == {"Ref": "RemediationFunctionArns"}
    assert by_sid["ReadNamedParameters"]["Resource"] == {"Ref": "SsmParameterArns"}
    assert by_sid["ReadNamedSecrets"]["Resource"] == {"Ref": "SecretArns"}
    assert by_sid["ReadTheRoutingConfig"]["Resource"] == {"Ref": "ConfigObjectArn"}
    assert set(by_sid["DecryptThemThroughTheirService"]["Condition"]["StringEquals"]) == {"kms:ViaService"}
    log_group = json.dumps(by_sid["Logs"]["Resource"])
    assert "log-group:/aws/lambda/compliance-notifier-ci-notifier:*" in log_group


def test_the_notifier_runs_the_digest_flush_every_minute(res: dict[str, dict[str, Any]]) -> None:
    rules = resources({"Resources": res}, "AWS::Events::Rule").values()
    (schedule,) = [rule for rule in rules if "ScheduleExpression" in rule["Properties"]]
    assert schedule["Condition"] == "NotifierEnabled"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    (target,) = schedule["Properties"]["Targets"]
    assert target["Arn"] == get_att("NotifierLambdaFunction")
    assert json.loads(target["Input"]) == {"notifier": "flush-digests"}


def test_logs_are_kept_for_the_chosen_retention(res: dict[str, dict[str, Any]]) -> None:
    groups = resources({"Resources": res}, "AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS)
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, name
        function = name.removesuffix("LogGroup") + "LambdaFunction"
        assert group["Condition"] == res[function]["Condition"], name


# -- Config rules and remediation ----------------------------------------------------------------------------


def test_the_config_rules(res: dict[str, dict[str, Any]]) -> None:
    rules = resources({"Resources": res}, "AWS::Config::ConfigRule")
    assert set(rules) == set(CONFIG_RULES)
    permissions = resources({"Resources": res}, "AWS::Lambda::Permission")
    for name, (function, scope, message_types, parameters) in CONFIG_RULES.items():
        rule = rules[name]
        p = rule["Properties"]
        assert rule["Condition"] == "RulesEnabled"
        assert p["Source"]["Owner"] == "CUSTOM_LAMBDA"
        assert p["Source"]["SourceIdentifier"] == get_att(function)
        details = p["Source"]["SourceDetails"]
        assert [d["MessageType"] for d in details] == message_types, name
        assert all(d["EventSource"] == "aws.config" for d in details)
        periodic = [d for d in details if d["MessageType"] == SCHEDULED]
        assert [d["MaximumExecutionFrequency"] for d in periodic] == [{"Ref": "RulePeriod"}]
        assert p.get("Scope", {}).get("ComplianceResourceTypes") == scope, name
        assert set(p["InputParameters"]) == parameters, name
        (permission,) = [q for q in permissions.values() if q["Properties"]["FunctionName"] == get_att(function)]
        assert permission["Properties"]["Principal"] == "config.amazonaws.com"
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert permission["Properties"]["Action"] == "lambda:InvokeFunction"
        assert "RecorderReady" in rule["DependsOn"]


def test_the_standardized_rule_takes_its_parameters_from_the_stack(
    res: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    parameters = props(res, "StandardizedIamPoliciesRule")["InputParameters"]
    assert parameters["desiredPolicyName"] == {"Ref": "DesiredPolicyName"}
    # Config refuses a blank parameter value: an empty exception list leaves the key out.
    no_value = {"Ref": "AWS::NoValue"}
    assert parameters["exceptionList"] == {"Fn::If": ["HasExceptions", {"Ref": "ExceptionList"}, no_value]}
    assert template["Parameters"]["DesiredPolicyName"]["Default"] == "MyIAMUserPolicy"
    assert template["Parameters"]["ExceptionList"]["Default"] == ""


def test_the_rules_run_in_the_home_region_only(template: dict[str, Any]) -> None:
    conditions = template["Conditions"]
    assert {"Condition": "IsHomeRegion"} in conditions["RulesEnabled"]["Fn::And"]
    assert {"Condition": "IsHomeRegion"} in conditions["CreateRecorder"]["Fn::And"]


def test_remediation_is_off_unless_enabled(res: dict[str, dict[str, Any]], template: dict[str, Any]) -> None:
    assert template["Parameters"]["EnableRemediation"]["Default"] == "false"
    assert template["Conditions"]["RemediationEnabled"] == {"Fn::Equals": [{"Ref": "EnableRemediation"}, "true"]}
    for name in ("RemediationLambdaFunction", "RemediationRole", "RemediationFailureQueue", "RemediationInvokeConfig"):
        assert res[name]["Condition"] == "RemediationEnabled", name
    assert template["Parameters"]["RemediationDryRun"]["Default"] == "true"
    environment = props(res, "RemediationLambdaFunction")["Environment"]["Variables"]
    assert environment["DRY_RUN"] == {"Ref": "RemediationDryRun"}
    on_failure = props(res, "RemediationInvokeConfig")["DestinationConfig"]["OnFailure"]["Destination"]
    assert on_failure == get_att("RemediationFailureQueue")


# -- recording ----------------------------------------------------------------------------------------------


def test_the_recorder_is_optional_and_records_iam_only(
    res: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    assert template["Parameters"]["RecordIam"]["Default"] == "false"
    for name in ("ConfigurationRecorder", "ConfigDeliveryChannel", "ConfigRecorderRole"):
        assert res[name]["Condition"] == "CreateRecorder", name
    group = props(res, "ConfigurationRecorder")["RecordingGroup"]
    assert group["AllSupported"] is False
    assert group["IncludeGlobalResourceTypes"] is False
    assert group["RecordingStrategy"] == {"UseOnly": "INCLUSION_BY_RESOURCE_TYPES"}
    assert sorted(group["ResourceTypes"]) == ["AWS::IAM::Group", "AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::User"]
    topics = list(branches(props(res, "ConfigDeliveryChannel")["SnsTopicARN"]))
    assert topics == [{"Ref": "DeliveryTopicArn"}, {"Ref": "ConfigTopicArn"}, {"Ref": "ConfigTopic"}]


def test_the_created_config_bucket_is_private_and_encrypted(res: dict[str, dict[str, Any]]) -> None:
    bucket = props(res, "ConfigBucket")
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert_tls_only(props(res, "ConfigBucketPolicy")["PolicyDocument"])


# -- operations ---------------------------------------------------------------------------------------------


def test_alarms_watch_the_dead_letters_errors_and_throttles(res: dict[str, dict[str, Any]]) -> None:
    alarms = resources({"Resources": res}, "AWS::CloudWatch::Alarm")
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    dead_letters = props(res, "DeadLetterQueueDepthAlarm")
    assert dead_letters["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert dead_letters["Dimensions"] == [{"Name": "QueueName", "Value": get_att("DeadLetterQueue", "QueueName")}]
    assert dead_letters["Threshold"] == 1
    for name, metric in (("NotifierErrorsAlarm", "Errors"), ("NotifierThrottlesAlarm", "Throttles")):
        assert props(res, name)["MetricName"] == metric
        assert props(res, name)["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "NotifierLambdaFunction"}}]
    for name, metric in (("RuleErrorsAlarm", "Errors"), ("RuleThrottlesAlarm", "Throttles")):
        watched = [m["MetricStat"]["Metric"] for m in props(res, name)["Metrics"] if "MetricStat" in m]
        assert {m["MetricName"] for m in watched} == {metric}
        rule_functions = {f for f in FUNCTIONS if f.startswith("Rule")}
        assert {m["Dimensions"][0]["Value"]["Ref"] for m in watched} == rule_functions
    assert {"RemediationErrorsAlarm", "RemediationFailuresAlarm", "IntakeQueueAgeAlarm"} <= set(alarms)


def test_every_stack_parameter_is_a_serverless_param(template: dict[str, Any]) -> None:
    """Each CloudFormation parameter's default comes from `params` in serverless.yml (so --param sets it)."""
    from .test_docs import serverless_params

    assert set(template["Parameters"]) == set(serverless_params())


# -- helpers --------------------------------------------------------------------------------------------------


def branches_of(statement_list: Any) -> list[dict[str, Any]]:
    return [s for item in as_list(statement_list) for s in branches(item)]


def assert_tls_only(document: dict[str, Any]) -> None:
    denies = [s for s in branches_of(document["Statement"]) if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies), document
