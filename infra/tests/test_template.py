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
    "RelayFunction": "relay",
}

# (action, resource logical id) each function's own inline policies grant; nothing else.
EXPECTED_GRANTS = {
    "SendFunction": {
        *(("dynamodb:" + a, "Table") for a in
          ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query", "BatchWriteItem")),
        ("dynamodb:Query", "Table/index/gsi1"),
    },
    "InboundFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem", "Query")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("secretsmanager:GetSecretValue", "ViberCallbackSecret"),
    },
    "StatusFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("secretsmanager:GetSecretValue", "ViberCallbackSecret"),
    },
    "DispatchFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("sqs:ChangeMessageVisibility", "OutboundQueue"),  # back-off on its own queue
        # Only when ViberApiTokenSecretArn is set (CONDITIONAL_GRANTS).
        ("secretsmanager:GetSecretValue", "ViberApiTokenSecretArn"),
    },
    "NotifyFunction": {
        ("dynamodb:GetItem", "Table"),
        ("dynamodb:PutItem", "Table"),
        ("sqs:ChangeMessageVisibility", "EventsQueue"),  # back-off on its own queue
    },
    # The outbox: the one function that writes to the outbound queue; the stream's on-failure
    # destination is granted by SAM (below).
    "RelayFunction": {
        ("sqs:SendMessage", "OutboundQueue"),
        ("sqs:SendMessage", "RelayFailureQueue"),
    },
}

# Grants inside `!If [condition, statement, AWS::NoValue]`: (function, action, resource) -> condition.
CONDITIONAL_GRANTS = {
    ("DispatchFunction", "secretsmanager:GetSecretValue", "ViberApiTokenSecretArn"): "HasApiTokenSecret",
}

_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_SQS = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
_VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
_STREAM = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
# Managed policies SAM attaches itself: logs for all; queue polling for SQS consumers;
# ENI management for the function that may run in a VPC.
EXPECTED_MANAGED = {
    "SendFunction": {_BASIC},
    "InboundFunction": {_BASIC},
    "StatusFunction": {_BASIC},
    "DispatchFunction": {_BASIC, _SQS, _VPC},
    "NotifyFunction": {_BASIC, _SQS},
    "RelayFunction": {_BASIC, _STREAM},
}

ENV_COMMON = {
    "VBM_TABLE", "OUTBOUND_QUEUE_URL", "EVENTS_QUEUE_URL", "VIBER_API_URL",
    "SESSION_DURATION_SECONDS", "SESSION_MAX_MESSAGES", "SESSION_MAX_CONSECUTIVE",
    "RETENTION_DAYS", "RUST_LOG", "VBM_WARM_ON_INIT",
}
ENV_EXTRA = {
    "InboundFunction": {"VIBER_CALLBACK_SECRET_ID", "SECRETS_REFRESH_SECONDS", "VIBER_CALLBACK_CIDRS"},
    "StatusFunction": {"VIBER_CALLBACK_SECRET_ID", "SECRETS_REFRESH_SECONDS", "VIBER_CALLBACK_CIDRS"},
    "DispatchFunction": {"VIBER_API_TOKEN_SECRET_ID", "SECRETS_REFRESH_SECONDS"},
}

ROUTES = {
    ("POST", "/v1/messages"): "SendFunction",
    ("GET", "/v1/messages/{id}"): "SendFunction",
    ("GET", "/v1/sessions/{phone}"): "SendFunction",
    ("DELETE", "/v1/contacts/{phone}"): "SendFunction",
    ("GET", "/v1/templates"): "SendFunction",
    ("POST", "/viber/inbound/{secret}"): "InboundFunction",
    ("POST", "/viber/status/{secret}"): "StatusFunction",
    # For deployments without a URL secret (source CIDRs, a signing gateway).
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


def _mappings(translated):
    mappings = _of_type(translated, "AWS::Lambda::EventSourceMapping")
    return {_ref_id(m["Properties"]["FunctionName"]): m["Properties"] for m in mappings.values()}


def test_sqs_event_sources(translated):
    by_function = {fn: m for fn, m in _mappings(translated).items() if fn != "RelayFunction"}
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


def test_the_stream_carries_accepted_messages_to_the_outbound_queue(translated):
    """The outbox (issue 13): the table streams new images, relay reads only message inserts,
    in order, retried with bisection, and what it cannot queue goes to a watched queue."""
    table = _of_type(translated, "AWS::DynamoDB::Table")["Table"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    m = _mappings(translated)["RelayFunction"]
    assert m["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert m["StartingPosition"] == "TRIM_HORIZON"
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["BisectBatchOnFunctionError"] is True
    assert m["ParallelizationFactor"] == 1
    # Retried until 6 h old, so the failure destination names records still on the stream (24 h).
    assert m["MaximumRetryAttempts"] == -1
    assert 0 < m["MaximumRecordAgeInSeconds"] <= 12 * 3600
    assert _ref_id(m["DestinationConfig"]["OnFailure"]["Destination"]) == "RelayFailureQueue"
    (pattern,) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "MSG#"}]}}}}
    # The prefix is the store's message key (shared/store/src/keys.rs) and relay's filter.
    assert 'format!("MSG#{}"' in (ROOT / "shared/store/src/keys.rs").read_text()
    assert 'MESSAGE_SK_PREFIX: &str = "MSG#"' in (ROOT / "functions/relay/src/lib.rs").read_text()


def test_queues_have_dead_letter_queues(translated):
    queues = _of_type(translated, "AWS::SQS::Queue")
    dlqs = {
        _ref_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]): lid
        for lid, q in queues.items() if "RedrivePolicy" in q["Properties"]
    }
    assert set(dlqs) == {"OutboundDeadLetterQueue", "EventsDeadLetterQueue"}
    for lid, q in queues.items():
        p = q["Properties"]
        if lid == "RelayFailureQueue":  # the stream's on-failure destination: a dead end too
            assert "RedrivePolicy" not in p and p["MessageRetentionPeriod"] == 1209600
        elif lid in dlqs:
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
                condition = None
                if "Fn::If" in st:
                    condition, st, otherwise = st["Fn::If"]
                    assert otherwise == {"Ref": "AWS::NoValue"}, lid
                assert st["Effect"] == "Allow", lid
                for action in _as_list(st["Action"]):
                    assert "*" not in action, (lid, action)
                    for resource in _as_list(st["Resource"]):
                        grant = (action, _ref_id(resource))
                        assert CONDITIONAL_GRANTS.get((lid, *grant)) == condition, (lid, grant, condition)
                        grants.add(grant)
        assert grants == EXPECTED_GRANTS[lid], lid
        assert set(role["ManagedPolicyArns"]) == EXPECTED_MANAGED[lid], lid
    # Spelled out, the separations that matter most:
    send = EXPECTED_GRANTS["SendFunction"]
    # A send is one DynamoDB transaction: no queue on the request path.
    assert not any(a.startswith("sqs:") for a, _ in send)
    assert not any(a == "sqs:SendMessage" for a, _ in EXPECTED_GRANTS["NotifyFunction"])
    for lid in set(FUNCTIONS) - {"RelayFunction"}:
        assert ("sqs:SendMessage", "OutboundQueue") not in EXPECTED_GRANTS[lid]
    for lid in set(FUNCTIONS) - {"SendFunction"}:
        assert ("dynamodb:DeleteItem", "Table") not in EXPECTED_GRANTS[lid]


def test_alarms(translated):
    alarms = _of_type(translated, "AWS::CloudWatch::Alarm")
    watched_queues = set()
    watched_functions = set()
    for lid, a in alarms.items():
        p = a["Properties"]
        if lid == "RelayIteratorAgeAlarm":
            assert (p["Namespace"], p["MetricName"]) == ("AWS/Lambda", "IteratorAge"), lid
            assert _ref_id(p["Dimensions"][0]["Value"]) == "RelayFunction"
            continue
        assert p["ComparisonOperator"] == "GreaterThanThreshold" and p["Threshold"] == 0, lid
        assert p["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}, lid
        dim = p["Dimensions"][0]
        if p["Namespace"] == "AWS/SQS":
            assert p["MetricName"] == "ApproximateNumberOfMessagesVisible", lid
            watched_queues.add(_ref_id(dim["Value"]))
        else:
            assert (p["Namespace"], p["MetricName"], dim["Name"]) == ("AWS/Lambda", "Errors", "FunctionName"), lid
            watched_functions.add(_ref_id(dim["Value"]))
    assert watched_queues == {"OutboundDeadLetterQueue", "EventsDeadLetterQueue", "RelayFailureQueue"}
    assert "RelayIteratorAgeAlarm" in alarms
    assert watched_functions == set(FUNCTIONS)


def test_dashboard(translated):
    dash = _of_type(translated, "AWS::CloudWatch::Dashboard")
    assert len(dash) == 1
    body = next(iter(dash.values()))["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(body)  # valid JSON before substitution (no ${...} inside strings breaks it)
    for metric in ("SendAccepted", "SendRefused", "DispatchOutcome", "CallbackLagMs", "EventsDelivered", "EventsRetried"):
        assert f'MetricName=\\"{metric}\\"' in body, metric
    for fn in FUNCTIONS:
        assert "${%s}" % fn in body, fn


def test_parameters_and_outputs(source_template):
    params = source_template["Parameters"]
    defaults = {
        "SessionDurationSeconds": 86400, "SessionMaxMessages": 60, "SessionMaxConsecutive": 5,
        "RetentionDays": 30, "MaxReceiveCount": 5, "LogLevel": "INFO",
        "ViberApiTokenSecretArn": "", "ViberCallbackCidrs": "", "AlarmTopicArn": "",
        "DispatchSubnetIds": "", "DispatchSecurityGroupIds": "", "SecretsRefreshSeconds": 300,
    }
    for name, default in defaults.items():
        assert params[name]["Default"] == default, name
    # No secret is a parameter: the callback secret is created in Secrets Manager, the API
    # token is one there, named by its ARN.
    assert not any("CallbackSecret" in name for name in params)
    assert "ViberApiToken" not in params
    assert source_template["Conditions"]["HasApiTokenSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ViberApiTokenSecretArn"}, ""]}]
    }
    assert params["DeletionProtection"]["AllowedValues"] == ["true", "false"]
    assert params["DispatchSubnetIds"]["Type"] == "CommaDelimitedList"
    assert {"ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"} <= set(params)
    assert {
        "ApiUrl", "ViberInboundCallbackUrl", "ViberStatusCallbackUrl", "TableName",
        "OutboundQueueUrl", "EventsQueueUrl", "OutboundDeadLetterQueueUrl", "EventsDeadLetterQueueUrl",
        "RelayFailureQueueUrl",
        "ViberCallbackSecretArn",
    } <= set(source_template["Outputs"])
    outputs = source_template["Outputs"]
    for name, route in (("ViberInboundCallbackUrl", "inbound"), ("ViberStatusCallbackUrl", "status")):
        assert outputs[name]["Value"]["Fn::Sub"].endswith(f"/viber/{route}/{{secret}}"), name
    assert outputs["ViberCallbackSecretArn"]["Value"] == {"Ref": "ViberCallbackSecret"}


def test_callback_secret_in_secrets_manager(translated):
    secrets = _of_type(translated, "AWS::SecretsManager::Secret")
    assert set(secrets) == {"ViberCallbackSecret"}
    secret = secrets["ViberCallbackSecret"]
    assert secret["DeletionPolicy"] == "Retain"
    props = secret["Properties"]
    # Generated by CloudFormation: a URL-safe url_secret, never typed in.
    assert props["GenerateSecretString"] == {
        "SecretStringTemplate": "{}",
        "GenerateStringKey": "url_secret",
        "PasswordLength": 40,
        "ExcludePunctuation": True,
    }
    assert "SecretString" not in props
    # A customer key would need kms:Decrypt, which no function is granted.
    assert "KmsKeyId" not in props
    functions = _of_type(translated, "AWS::Lambda::Function")
    for lid in ("InboundFunction", "StatusFunction"):
        env = functions[lid]["Properties"]["Environment"]["Variables"]
        assert env["VIBER_CALLBACK_SECRET_ID"] == {"Ref": "ViberCallbackSecret"}, lid
        assert env["SECRETS_REFRESH_SECONDS"] == {"Ref": "SecretsRefreshSeconds"}, lid
    # No function's environment holds a secret's value: only secret ids.
    for lid, fn in functions.items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert not {"VIBER_CALLBACK_SECRET", "VIBER_API_TOKEN"} & set(env), lid
    dispatch_env = functions["DispatchFunction"]["Properties"]["Environment"]["Variables"]
    assert dispatch_env["VIBER_API_TOKEN_SECRET_ID"] == {"Ref": "ViberApiTokenSecretArn"}
