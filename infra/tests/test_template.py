"""Offline validation of template.yaml: cfn-lint, then the SAM transform and its output.

The SAM transform runs locally with samtranslator; managed policies are never
looked up in IAM (empty policy map), so no AWS call happens.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from conftest import ROOT, TEMPLATE

FUNCTIONS = {
    "SendFunction": "send",
    "InboundFunction": "inbound",
    "StatusFunction": "status",
    "DispatchFunction": "dispatch",
    "NotifyFunction": "notify",
}

# (action, resource logical id) each function's own inline policies grant; nothing else.
EXPECTED_GRANTS = {
    "SendFunction": {
        *(("dynamodb:" + a, "Table") for a in
          ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query", "BatchWriteItem")),
        ("dynamodb:Query", "Table/index/gsi1"),
        ("sqs:SendMessage", "OutboundQueue"),
        ("sqs:GetQueueAttributes", "OutboundQueue"),  # warm-up on init
    },
    "InboundFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem", "Query")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
    },
    "StatusFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
    },
    "DispatchFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("sqs:ChangeMessageVisibility", "OutboundQueue"),  # back-off on its own queue
    },
    "NotifyFunction": {
        ("dynamodb:GetItem", "Table"),
        ("dynamodb:PutItem", "Table"),
        ("sqs:ChangeMessageVisibility", "EventsQueue"),  # back-off on its own queue
    },
}

_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_SQS = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
_VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
# Managed policies SAM attaches itself: logs for all; queue polling for SQS consumers;
# ENI management for the function that may run in a VPC.
EXPECTED_MANAGED = {
    "SendFunction": {_BASIC},
    "InboundFunction": {_BASIC},
    "StatusFunction": {_BASIC},
    "DispatchFunction": {_BASIC, _SQS, _VPC},
    "NotifyFunction": {_BASIC, _SQS},
}

ENV_COMMON = {
    "VBM_TABLE", "OUTBOUND_QUEUE_URL", "EVENTS_QUEUE_URL", "VIBER_API_URL",
    "SESSION_DURATION_SECONDS", "SESSION_MAX_MESSAGES", "SESSION_MAX_CONSECUTIVE",
    "VIBER_TRANSACTIONAL_TEXT",
    "RETENTION_DAYS", "RUST_LOG", "VBM_WARM_ON_INIT",
}
ENV_EXTRA = {
    "InboundFunction": {"VIBER_CALLBACK_SECRET", "VIBER_CALLBACK_CIDRS"},
    "StatusFunction": {"VIBER_CALLBACK_SECRET", "VIBER_CALLBACK_CIDRS"},
    "DispatchFunction": {"VIBER_API_TOKEN"},
}

ROUTES = {
    ("POST", "/v1/messages"): "SendFunction",
    ("GET", "/v1/messages/{id}"): "SendFunction",
    ("GET", "/v1/sessions/{phone}"): "SendFunction",
    ("DELETE", "/v1/contacts/{phone}"): "SendFunction",
    ("GET", "/v1/templates"): "SendFunction",
    ("POST", "/viber/inbound"): "InboundFunction",
    ("POST", "/viber/status"): "StatusFunction",
}


def _ref_id(value) -> str:
    """Logical id behind !Ref X or !GetAtt X.Attr."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and value.get("Fn::Sub") == "${Table.Arn}/index/gsi1":
        return "Table/index/gsi1"
    raise AssertionError(f"not a reference: {value!r}")


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def translated(source_template):
    sam = copy.deepcopy(source_template)
    # What `sam package` does: code locations become S3 URIs.
    for res in sam["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://example-bucket/vbm.zip"
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(sam, parameter_values={}, get_managed_policy_map=lambda: {})


def _of_type(template, type_):
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == type_}


def test_cfn_lint_clean():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    proc = subprocess.run([str(cfn_lint), str(TEMPLATE)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_build_metadata(source_template):
    functions = _of_type(source_template, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)
    for lid, binary in FUNCTIONS.items():
        fn = functions[lid]
        assert fn["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}}, lid
        assert fn["Properties"]["CodeUri"] == ".", lid


def test_functions_runtime(translated):
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for lid, fn in functions.items():
        p = fn["Properties"]
        assert p["Runtime"] == "provided.al2023", lid
        assert p["Architectures"] == ["arm64"], lid
        assert p["Handler"] == "bootstrap", lid
        assert p["MemorySize"] == 256, lid
        log = p["LoggingConfig"]
        assert log["LogFormat"] == "JSON" and log["SystemLogLevel"] == "WARN", lid
        assert log["ApplicationLogLevel"] == {"Ref": "LogLevel"}, lid
        env = set(p["Environment"]["Variables"])
        assert env == ENV_COMMON | ENV_EXTRA.get(lid, set()), lid
    assert "VpcConfig" in functions["DispatchFunction"]["Properties"]
    assert functions["DispatchFunction"]["Properties"]["VpcConfig"]["Fn::If"][0] == "UseDispatchVpc"
    for lid in set(FUNCTIONS) - {"DispatchFunction"}:
        assert "VpcConfig" not in functions[lid]["Properties"], lid


def test_http_routes(translated):
    api = _of_type(translated, "AWS::ApiGatewayV2::Api")
    assert len(api) == 1
    body = next(iter(api.values()))["Properties"]["Body"]
    routes = {}
    for path, methods in body["paths"].items():
        for method, op in methods.items():
            uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            fn = re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)
            routes[(method.upper(), path)] = fn
    assert routes == ROUTES
    stage = next(iter(_of_type(translated, "AWS::ApiGatewayV2::Stage").values()))["Properties"]
    throttle = stage["DefaultRouteSettings"]
    assert throttle["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert throttle["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}


def test_sqs_event_sources(translated):
    mappings = _of_type(translated, "AWS::Lambda::EventSourceMapping")
    by_function = {_ref_id(m["Properties"]["FunctionName"]): m["Properties"] for m in mappings.values()}
    assert set(by_function) == {"DispatchFunction", "NotifyFunction"}
    assert _ref_id(by_function["DispatchFunction"]["EventSourceArn"]) == "OutboundQueue"
    assert _ref_id(by_function["NotifyFunction"]["EventSourceArn"]) == "EventsQueue"
    functions = _of_type(translated, "AWS::Lambda::Function")
    queues = _of_type(translated, "AWS::SQS::Queue")
    for fn, m in by_function.items():
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"], fn
        assert m["BatchSize"] == 10, fn
        timeout = functions[fn]["Properties"]["Timeout"]
        visibility = queues[_ref_id(m["EventSourceArn"])]["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * timeout, (fn, visibility, timeout)


def test_queues_have_dead_letter_queues(translated):
    queues = _of_type(translated, "AWS::SQS::Queue")
    dlqs = {
        _ref_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]): lid
        for lid, q in queues.items() if "RedrivePolicy" in q["Properties"]
    }
    assert set(dlqs) == {"OutboundDeadLetterQueue", "EventsDeadLetterQueue"}
    for lid, q in queues.items():
        p = q["Properties"]
        if lid in dlqs:
            assert "RedrivePolicy" not in p, lid
            assert p["MessageRetentionPeriod"] == 1209600, lid
            # A FIFO queue's DLQ must be FIFO too.
            assert p.get("FifoQueue", False) == queues[dlqs[lid]]["Properties"].get("FifoQueue", False), lid
        else:
            assert p["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, lid
    assert queues["OutboundQueue"]["Properties"]["FifoQueue"] is True
    assert queues["OutboundQueue"]["Properties"]["ContentBasedDeduplication"] is False
    assert "FifoQueue" not in queues["EventsQueue"]["Properties"]


def test_table(translated):
    tables = _of_type(translated, "AWS::DynamoDB::Table")
    assert set(tables) == {"Table"}
    p = tables["Table"]["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"] == {"SSEEnabled": True}
    assert p["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTable", True, False]}
    assert p["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def test_least_privilege_policies(translated):
    roles = _of_type(translated, "AWS::IAM::Role")
    functions = _of_type(translated, "AWS::Lambda::Function")
    for lid in FUNCTIONS:
        role_id = _ref_id(functions[lid]["Properties"]["Role"])
        role = roles[role_id]["Properties"]
        grants = set()
        for policy in role.get("Policies", []):
            for st in _as_list(policy["PolicyDocument"]["Statement"]):
                assert st["Effect"] == "Allow", lid
                for action in _as_list(st["Action"]):
                    assert "*" not in action, (lid, action)
                    for resource in _as_list(st["Resource"]):
                        grants.add((action, _ref_id(resource)))
        assert grants == EXPECTED_GRANTS[lid], lid
        assert set(role["ManagedPolicyArns"]) == EXPECTED_MANAGED[lid], lid
    # Spelled out, the separations that matter most:
    send = EXPECTED_GRANTS["SendFunction"]
    assert not any(res == "EventsQueue" for _, res in send)
    assert not any(a == "sqs:SendMessage" for a, _ in EXPECTED_GRANTS["NotifyFunction"])
    for lid in ("InboundFunction", "StatusFunction", "DispatchFunction", "NotifyFunction"):
        assert ("sqs:SendMessage", "OutboundQueue") not in EXPECTED_GRANTS[lid]
        assert ("dynamodb:DeleteItem", "Table") not in EXPECTED_GRANTS[lid]


def test_alarms(translated):
    alarms = _of_type(translated, "AWS::CloudWatch::Alarm")
    watched_queues = set()
    watched_functions = set()
    watched_metrics = set()
    for lid, a in alarms.items():
        p = a["Properties"]
        assert p["ComparisonOperator"] == "GreaterThanThreshold" and p["Threshold"] == 0, lid
        assert p["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}, lid
        if p["Namespace"] == "VBM":
            # Our EMF metrics, emitted without dimensions so one alarm sees every reason.
            assert "Dimensions" not in p and p["Statistic"] == "Sum", lid
            watched_metrics.add(p["MetricName"])
            continue
        dim = p["Dimensions"][0]
        if p["Namespace"] == "AWS/SQS":
            assert p["MetricName"] == "ApproximateNumberOfMessagesVisible", lid
            watched_queues.add(_ref_id(dim["Value"]))
        else:
            assert (p["Namespace"], p["MetricName"], dim["Name"]) == ("AWS/Lambda", "Errors", "FunctionName"), lid
            watched_functions.add(_ref_id(dim["Value"]))
    assert watched_queues == {"OutboundDeadLetterQueue", "EventsDeadLetterQueue"}
    assert watched_functions == set(FUNCTIONS)
    assert watched_metrics == {"CallbackQuarantined", "ViberMisconfigured"}


def test_dashboard(translated):
    dash = _of_type(translated, "AWS::CloudWatch::Dashboard")
    assert len(dash) == 1
    body = next(iter(dash.values()))["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(body)  # valid JSON before substitution (no ${...} inside strings breaks it)
    for metric in ("SendAccepted", "SendRefused", "DispatchOutcome", "CallbackLagMs", "EventsDelivered", "EventsRetried", "CallbackQuarantined", "CallbackStatusUnknown", "ViberMisconfigured"):
        assert f'MetricName=\\"{metric}\\"' in body, metric
    for fn in FUNCTIONS:
        assert "${%s}" % fn in body, fn


def test_parameters_and_outputs(source_template):
    params = source_template["Parameters"]
    defaults = {
        "SessionDurationSeconds": 86400, "SessionMaxMessages": 60, "SessionMaxConsecutive": 5,
        "RetentionDays": 30, "MaxReceiveCount": 5, "LogLevel": "INFO",
        "ViberApiToken": "", "ViberCallbackCidrs": "", "AlarmTopicArn": "",
        "DispatchSubnetIds": "", "DispatchSecurityGroupIds": "", "ViberTransactionalText": "106",
    }
    for name, default in defaults.items():
        assert params[name]["Default"] == default, name
    assert params["ViberApiToken"]["NoEcho"] is True
    assert params["ViberCallbackSecret"]["NoEcho"] is True
    assert params["DeletionProtection"]["AllowedValues"] == ["true", "false"]
    assert params["DispatchSubnetIds"]["Type"] == "CommaDelimitedList"
    assert {"ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"} <= set(params)
    assert {
        "ApiUrl", "ViberInboundCallbackUrl", "ViberStatusCallbackUrl", "TableName",
        "OutboundQueueUrl", "EventsQueueUrl", "OutboundDeadLetterQueueUrl", "EventsDeadLetterQueueUrl",
    } <= set(source_template["Outputs"])
