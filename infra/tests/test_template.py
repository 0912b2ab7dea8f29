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
import tomllib
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
    "FailoverFunction": "failover",  # SMS failover
    "LifecycleFunction": "lifecycle",  # business events
    "CampaignFunction": "campaign",  # campaigns
}

# Setting timers (shared/timers): schedules in the stack's group, passing TimersRole.
_TIMERS = {
    ("scheduler:CreateSchedule", "TimersGroup/schedules"),
    ("scheduler:DeleteSchedule", "TimersGroup/schedules"),
    ("iam:PassRole", "TimersRole"),
}

# (action, resource logical id) each function's own inline policies grant; nothing else.
EXPECTED_GRANTS = {
    "SendFunction": {
        *(("dynamodb:" + a, "Table") for a in
          ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query", "BatchWriteItem")),
        ("dynamodb:Query", "Table/index/gsi1"),
        # Campaigns: the start timer; a due one goes to the campaign queue at once.
        *_TIMERS,
        ("sqs:SendMessage", "CampaignQueue"),
        # Business events: the delivery log and its replay.
        ("dynamodb:Query", "Table/index/events"),
        ("dynamodb:BatchGetItem", "Table"),
        ("sqs:SendMessage", "EventsQueue"),
        # Uploaded campaign lists: presigned PUT URLs under uploads/.
        ("s3:PutObject", "UploadsBucket/uploads"),
    },
    "InboundFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem", "Query")),
        ("dynamodb:BatchGetItem", "Table"),  # the messages held for the user's reply, released
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("secretsmanager:GetSecretValue", "ViberCallbackSecret"),
    },
    "StatusFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:SendMessage", "FailoverQueue"),  # SMS failover on expired
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("secretsmanager:GetSecretValue", "ViberCallbackSecret"),
    },
    "DispatchFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "PutItem", "UpdateItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:SendMessage", "FailoverQueue"),  # SMS failover on 9/10 and the deadline
        ("sqs:GetQueueAttributes", "EventsQueue"),  # warm-up on init
        ("sqs:ChangeMessageVisibility", "OutboundQueue"),  # back-off on its own queue
        # Only when ViberApiTokenSecretArn is set (CONDITIONAL_GRANTS).
        ("secretsmanager:GetSecretValue", "ViberApiTokenSecretArn"),
    },
    "NotifyFunction": {
        ("dynamodb:GetItem", "Table"),
        ("dynamodb:PutItem", "Table"),
        ("dynamodb:UpdateItem", "Table"),  # the delivery log
        ("sqs:ChangeMessageVisibility", "EventsQueue"),  # back-off on its own queue
    },
    # The outbox: the one function that writes to the outbound queue; the stream's on-failure
    # destination is granted by SAM (below).
    "RelayFunction": {
        ("sqs:SendMessage", "OutboundQueue"),
        ("sqs:SendMessage", "RelayFailureQueue"),
        # Parked work (a disabled business's, a paused campaign's) read, queued again on the
        # queue it came from and deleted when its hold is lifted.
        ("dynamodb:Query", "Table"),
        ("dynamodb:DeleteItem", "Table"),
        ("sqs:SendMessage", "CampaignQueue"),
        ("sqs:SendMessage", "FailoverQueue"),
    },
    # Campaigns: the fan-out admits recipients with the send's writes (and reads
    # their conversations in batches); messages reach the outbound queue through the stream.
    "CampaignFunction": {
        *(("dynamodb:" + a, "Table") for a in
          ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "ConditionCheckItem", "Query")),
        ("s3:GetObject", "UploadsBucket/uploads"),  # uploaded lists
        ("sqs:SendMessage", "CampaignQueue"),
        ("sqs:SendMessage", "EventsQueue"),
        *_TIMERS,
    },
    # SMS failover: the one function that sends SMS, through the one configuration
    # set and this account's origination identities.
    "FailoverFunction": {
        *(("dynamodb:" + a, "Table") for a in ("GetItem", "UpdateItem", "ConditionCheckItem")),
        ("dynamodb:PutItem", "Table"),  # a disabled business's job, parked
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:ChangeMessageVisibility", "FailoverQueue"),  # back-off on its own queue
        *(("sms-voice:SendTextMessage", "sms-voice:" + r) for r in
          ("configuration-set/FailoverConfigurationSet", "sender-id/*", "phone-number/*", "pool/*", "opt-out-list/*")),
    },
    # Business events: session lifecycle events; the stream's on-failure destination
    # is granted by SAM.
    "LifecycleFunction": {
        ("dynamodb:GetItem", "Table"),
        ("dynamodb:PutItem", "Table"),
        # A held message's deadline and an opt-out's drop: the send's own transaction.
        *(("dynamodb:" + a, "Table") for a in ("UpdateItem", "BatchGetItem", "ConditionCheckItem")),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:SendMessage", "SessionTimersQueue"),
        ("sqs:SendMessage", "LifecycleFailureQueue"),
        ("scheduler:CreateSchedule", "TimersGroup/schedules"),
        ("scheduler:DeleteSchedule", "TimersGroup/schedules"),
        ("iam:PassRole", "TimersRole"),
    },
}

# With KmsKeyArn, every function's environment, and the table and queues each one reads and
# writes, are encrypted with that key (test_kms_key_encrypts_everything_when_given).
_KMS = {("kms:Decrypt", "KmsKeyArn"), ("kms:GenerateDataKey", "KmsKeyArn")}
for _grants in EXPECTED_GRANTS.values():
    _grants |= _KMS

# Grants inside `!If [condition, statement, AWS::NoValue]`: (function, action, resource) -> condition.
CONDITIONAL_GRANTS = {
    ("DispatchFunction", "secretsmanager:GetSecretValue", "ViberApiTokenSecretArn"): "HasApiTokenSecret",
    **{(lid, *grant): "HasKmsKey" for lid in EXPECTED_GRANTS for grant in _KMS},
}

_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
_SQS = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
_VPC = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
_STREAM = "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole"
_XRAY = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
# Managed policies SAM attaches itself: logs and X-Ray segments for all; queue polling for SQS
# consumers; stream reading for the outbox; ENI management for the function that may run in a VPC.
EXPECTED_MANAGED = {
    "SendFunction": {_BASIC, _XRAY},
    "InboundFunction": {_BASIC, _XRAY},
    "StatusFunction": {_BASIC, _XRAY},
    "DispatchFunction": {_BASIC, _SQS, _VPC, _XRAY},
    "NotifyFunction": {_BASIC, _SQS, _XRAY},
    "RelayFunction": {_BASIC, _STREAM, _XRAY},
    "CampaignFunction": {_BASIC, _SQS, _XRAY},
    "FailoverFunction": {_BASIC, _SQS, _XRAY},
    "LifecycleFunction": {_BASIC, _STREAM, _SQS, _XRAY},
}

ENV_COMMON = {
    "VBM_TABLE", "OUTBOUND_QUEUE_URL", "EVENTS_QUEUE_URL", "VIBER_API_URL",
    "SESSION_DURATION_SECONDS", "SESSION_MAX_MESSAGES", "SESSION_MAX_CONSECUTIVE",
    "RETENTION_DAYS", "RUST_LOG", "VBM_WARM_ON_INIT", "VBM_METRICS_NAMESPACE", "VBM_STACK",
    "VIBER_TRANSACTIONAL_TEXT", "VIBER_TWO_WAY_SESSIONS", "TIMERS_GROUP", "TIMERS_ROLE_ARN",
    "CAMPAIGN_QUEUE_URL",  # campaigns
    "FAILOVER_QUEUE_URL",  # SMS failover
}
ENV_EXTRA = {
    "InboundFunction": {"VIBER_CALLBACK_SECRET_ID", "SECRETS_REFRESH_SECONDS", "VIBER_CALLBACK_CIDRS"},
    "StatusFunction": {"VIBER_CALLBACK_SECRET_ID", "SECRETS_REFRESH_SECONDS", "VIBER_CALLBACK_CIDRS"},
    "DispatchFunction": {"VIBER_API_TOKEN_SECRET_ID", "SECRETS_REFRESH_SECONDS"},
    "FailoverFunction": {"SMS_CONFIGURATION_SET", "SMS_ORIGINATION_IDENTITY", "SMS_MAX_ATTEMPTS"},
    "NotifyFunction": {"EVENTS_MAX_RECEIVE_COUNT"},
    # Campaigns' uploaded lists: send presigns PUTs, campaign reads them.
    "SendFunction": {"UPLOADS_BUCKET"},
    "CampaignFunction": {"UPLOADS_BUCKET"},
    "LifecycleFunction": {
        "SESSION_TIMERS_QUEUE_URL", "SESSION_EXPIRING_BEFORE_SECONDS", "SESSION_EXPIRING_MESSAGES_LEFT",
    },
}

# Every /v1/... request reaches send, whose router answers 404/405 in the API's envelope.
ROUTES = {
    ("X-AMAZON-APIGATEWAY-ANY-METHOD", "/v1/{proxy+}"): "SendFunction",
    ("POST", "/viber/inbound/{secret}"): "InboundFunction",
    ("POST", "/viber/status/{secret}"): "StatusFunction",
    # For deployments without a URL secret (source CIDRs, a signing gateway).
    ("POST", "/viber/inbound"): "InboundFunction",
    ("POST", "/viber/status"): "StatusFunction",
}


# `!If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]`: the customer key when one is given.
_WITH_KEY = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


def _ref_id(value) -> str:
    """Logical id behind !Ref X or !GetAtt X.Attr."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    if isinstance(value, dict) and value.get("Fn::Sub") == "${Table.Arn}/index/gsi1":
        return "Table/index/gsi1"
    if isinstance(value, dict) and value.get("Fn::Sub") == "${Table.Arn}/index/events":
        return "Table/index/events"
    if isinstance(value, dict) and value.get("Fn::Sub") == "${UploadsBucket.Arn}/uploads/*":
        return "UploadsBucket/uploads"
    if isinstance(value, dict) and "${TimersGroup}/*" in str(value.get("Fn::Sub", "")):
        return "TimersGroup/schedules"
    # SMS failover: End User Messaging resources of this account and region.
    prefix = "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:"
    if isinstance(value, dict) and str(value.get("Fn::Sub", "")).startswith(prefix):
        return "sms-voice:" + value["Fn::Sub"][len(prefix):].replace("${FailoverConfigurationSet}", "FailoverConfigurationSet")
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


def test_serverless_rules_clean():
    """AWS's Serverless Rules: no finding (the few that do not fit are suppressed in the
    template, each with its reason beside it)."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    proc = subprocess.run(
        [str(cfn_lint), str(TEMPLATE), "-a", "cfn_lint_serverless.rules"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_serverless_rules_run_and_find(tmp_path, source_template):
    """The rules are loaded and do find things: the template without its log groups and
    without tracing is reported (so a clean run above means something)."""
    text = TEMPLATE.read_text()
    stripped = text.replace("    Tracing: Active\n", "", 1)
    assert stripped != text
    bad = tmp_path / "template.yaml"
    bad.write_text(stripped)
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    proc = subprocess.run(
        [str(cfn_lint), str(bad), "-a", "cfn_lint_serverless.rules"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    for fn in FUNCTIONS:
        assert f"WS1000 Lambda function {fn} should have Tracing" in proc.stdout, proc.stdout


def test_lint_suppressions_give_their_reason():
    """Every ignore_checks in the template has a comment naming the rule just above it."""
    lines = TEMPLATE.read_text().splitlines()
    found = 0
    for i, line in enumerate(lines):
        m = re.match(r"\s*ignore_checks: \[(.+)\]", line)
        if not m:
            continue
        found += 1
        comment = "\n".join(l for l in lines[max(0, i - 4):i] if l.strip().startswith("#"))
        for rule in (r.strip() for r in m.group(1).split(",")):
            assert rule in comment, (i + 1, rule, comment)
    assert found == 8 + 3 + 2  # SMS failover: FailoverFunction ES1001, FailoverDeadLetterQueue ES6000
    # Business events: LifecycleFunction's ES1001, the session timers' DLQ's and
    # LifecycleFailureQueue's ES6000.
    # Campaigns: CampaignFunction's ES1001, CampaignDeadLetterQueue's ES6000.


def test_build_metadata(source_template):
    functions = _of_type(source_template, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS)
    for lid, binary in FUNCTIONS.items():
        fn = functions[lid]
        meta = {k: v for k, v in fn["Metadata"].items() if k not in ("cfn-lint", "checkov")}
        assert meta == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}}, lid
        # Its own package's directory, where `sam build` runs cargo-lambda (test_deploy_build.py).
        assert fn["Properties"]["CodeUri"] == f"functions/{binary}", lid


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
        # INFO keeps START/REPORT/INIT; the functions filter their own lines (RUST_LOG), so
        # Lambda's filter passes everything, EMF metric lines included, at any LogLevel.
        assert log["LogFormat"] == "JSON" and log["SystemLogLevel"] in ("INFO", "DEBUG"), lid
        assert log["ApplicationLogLevel"] == "TRACE", lid
        assert p["TracingConfig"] == {"Mode": "Active"}, lid
        variables = p["Environment"]["Variables"]
        env = set(variables)
        assert env == ENV_COMMON | ENV_EXTRA.get(lid, set()), lid
        assert variables["RUST_LOG"] == {"Ref": "LogLevel"}, lid
        assert variables["VBM_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}, lid
        assert variables["VBM_STACK"] == {"Ref": "AWS::StackName"}, lid
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
    access = stage["AccessLogSettings"]
    assert _ref_id(access["DestinationArn"]) == "ApiAccessLogGroup"
    fields = json.loads(access["Format"])  # one JSON object per request
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"
    assert fields["lambdaRequestId"] == "$context.integration.requestId"
    group = _of_type(translated, "AWS::Logs::LogGroup")["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}


def test_every_function_has_a_log_group_with_retention(translated):
    groups = _of_type(translated, "AWS::Logs::LogGroup")
    named = {}
    for lid, g in groups.items():
        p = g["Properties"]
        assert p["RetentionInDays"] == {"Ref": "LogRetentionInDays"}, lid
        m = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", p["LogGroupName"].get("Fn::Sub", "")) if isinstance(p["LogGroupName"], dict) else None
        if m:
            named[m.group(1)] = lid
    assert set(named) == set(FUNCTIONS)


def _mappings(translated):
    mappings = _of_type(translated, "AWS::Lambda::EventSourceMapping")
    out = {}
    for m in mappings.values():
        p = m["Properties"]
        fn = _ref_id(p["FunctionName"])
        # The lifecycle function has two sources: the stream's is `.../stream`.
        out[f"{fn}/stream" if fn == "LifecycleFunction" and "StartingPosition" in p else fn] = p
    return out


def test_sqs_event_sources(translated):
    by_function = {fn: m for fn, m in _mappings(translated).items() if fn not in ("RelayFunction", "LifecycleFunction/stream")}
    assert set(by_function) == {"DispatchFunction", "NotifyFunction", "FailoverFunction", "LifecycleFunction", "CampaignFunction"}
    assert _ref_id(by_function["LifecycleFunction"]["EventSourceArn"]) == "SessionTimersQueue"
    assert _ref_id(by_function["FailoverFunction"]["EventSourceArn"]) == "FailoverQueue"
    assert _ref_id(by_function["DispatchFunction"]["EventSourceArn"]) == "OutboundQueue"
    assert _ref_id(by_function["NotifyFunction"]["EventSourceArn"]) == "EventsQueue"
    functions = _of_type(translated, "AWS::Lambda::Function")
    queues = _of_type(translated, "AWS::SQS::Queue")
    assert by_function["DispatchFunction"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "DispatchMaximumConcurrency"}}
    assert by_function["NotifyFunction"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "NotifyMaximumConcurrency"}}
    assert _ref_id(by_function["CampaignFunction"]["EventSourceArn"]) == "CampaignQueue"
    assert by_function["CampaignFunction"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "CampaignMaximumConcurrency"}}
    for fn, m in by_function.items():
        assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"], fn
        assert m["BatchSize"] == 10, fn
        timeout = functions[fn]["Properties"]["Timeout"]
        visibility = queues[_ref_id(m["EventSourceArn"])]["Properties"]["VisibilityTimeout"]
        assert visibility >= 6 * timeout, (fn, visibility, timeout)


def test_the_stream_carries_accepted_messages_to_the_outbound_queue(translated):
    """The outbox: the table streams new images, relay reads only message inserts,
    in order, retried with bisection, and what it cannot queue goes to a watched queue."""
    table = _of_type(translated, "AWS::DynamoDB::Table")["Table"]["Properties"]
    # Old images too: the lifecycle function compares a conversation's states.
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
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
    (pattern, enabled, resumed) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "MSG#"}]}}}}
    # Holds lifted: a business enabled, a campaign leaving `paused` (relay queues parked work).
    assert enabled == {"eventName": ["MODIFY"], "dynamodb": {"Keys": {"sk": {"S": ["PROFILE"]}},
                                                            "OldImage": {"disabled": {"BOOL": [True]}}}}
    assert resumed == {"eventName": ["MODIFY"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "CAMPAIGN#"}]}},
                                                            "OldImage": {"campaign_state": {"S": ["paused"]}}}}
    # The prefixes are the store's keys (shared/store/src/keys.rs), which its stream decoder
    # (stream.rs, what relay reads records with) tells records apart by.
    _keys_prefix("MESSAGE_PREFIX", "MSG#")
    _keys_prefix("CAMPAIGN_PREFIX", "CAMPAIGN#")
    assert 'pub const PROFILE: &str = "PROFILE"' in _store("keys.rs")
    assert 'DISABLED: &str = "disabled"' in _store("business.rs")
    assert 'STATE: &str = "campaign_state"' in _store("campaigns.rs")
    for used in ("keys::MESSAGE_PREFIX", "keys::CAMPAIGN_PREFIX", "keys::PROFILE", "business::DISABLED"):
        assert used in _store("stream.rs"), used


def _store(name: str) -> str:
    return (ROOT / "shared/store/src" / name).read_text()


def _keys_prefix(constant: str, prefix: str) -> None:
    """keys.rs names the prefix, the key's builder builds it from that constant, and the stream
    decoder reads records by it."""
    assert f'pub const {constant}: &str = "{prefix}";' in _store("keys.rs")
    assert f'format!("{{{constant}}}{{}}"' in _store("keys.rs")
    assert f"keys::{constant}" in _store("stream.rs")


def test_the_stream_tells_session_changes_to_the_lifecycle_function(translated):
    """Business events: conversation items' inserts and changes, in order, retried
    with bisection, and a watched queue for what could not be handled."""
    m = _mappings(translated)["LifecycleFunction/stream"]
    assert m["EventSourceArn"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["BisectBatchOnFunctionError"] is True and m["ParallelizationFactor"] == 1
    assert m["MaximumRetryAttempts"] == -1 and 0 < m["MaximumRecordAgeInSeconds"] <= 12 * 3600
    assert _ref_id(m["DestinationConfig"]["OnFailure"]["Destination"]) == "LifecycleFailureQueue"
    (pattern, held) = [json.loads(f["Pattern"]) for f in m["FilterCriteria"]["Filters"]]
    assert pattern == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "CONV#"}]}}}}
    _keys_prefix("CONVERSATION_PREFIX", "CONV#")
    # And messages held for the user's reply: their deadline timers and events.
    assert held == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "HELD#"}]}}}}
    _keys_prefix("HELD_PREFIX", "HELD#")
    # Scheduler may send timers only to the session timers queue.
    role = _of_type(translated, "AWS::IAM::Role")["TimersRole"]["Properties"]
    # (Campaigns add the campaign queue: their start and window timers.)
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    # With KmsKeyArn the queues are encrypted: sending needs the key (and nothing else).
    kms = [s for s in statements if "Fn::If" in s]
    assert kms == [{"Fn::If": ["HasKmsKey", {
        "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": {"Ref": "KmsKeyArn"},
    }, {"Ref": "AWS::NoValue"}]}]
    statements = [s for s in statements if "Fn::If" not in s]
    assert all(s["Action"] == "sqs:SendMessage" for s in statements)
    assert {_ref_id(s["Resource"]) for s in statements} == {"SessionTimersQueue", "CampaignQueue"}



def test_queues_have_dead_letter_queues(translated):
    queues = _of_type(translated, "AWS::SQS::Queue")
    dlqs = {
        _ref_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]): lid
        for lid, q in queues.items() if "RedrivePolicy" in q["Properties"]
    }
    assert set(dlqs) == {
        "OutboundDeadLetterQueue", "EventsDeadLetterQueue", "FailoverDeadLetterQueue", "SessionTimersDeadLetterQueue",
        "CampaignDeadLetterQueue",
    }
    for lid, q in queues.items():
        p = q["Properties"]
        # The stream mappings' on-failure destinations: dead ends too.
        if lid in ("RelayFailureQueue", "LifecycleFailureQueue"):
            assert "RedrivePolicy" not in p and p["MessageRetentionPeriod"] == 1209600
        elif lid in dlqs:
            assert "RedrivePolicy" not in p, lid
            assert p["MessageRetentionPeriod"] == 1209600, lid
            # A FIFO queue's DLQ must be FIFO too.
            assert p.get("FifoQueue", False) == queues[dlqs[lid]]["Properties"].get("FifoQueue", False), lid
        elif lid == "FailoverQueue":  # SMS failover: room for SmsMaxAttempts (at most 10) and waits
            assert p["RedrivePolicy"]["maxReceiveCount"] == 15
        else:
            assert p["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, lid
    assert queues["OutboundQueue"]["Properties"]["FifoQueue"] is True
    assert queues["OutboundQueue"]["Properties"]["ContentBasedDeduplication"] is False
    # High-throughput FIFO mode.
    assert queues["OutboundQueue"]["Properties"]["DeduplicationScope"] == "messageGroup"
    assert queues["OutboundQueue"]["Properties"]["FifoThroughputLimit"] == "perMessageGroupId"
    assert "FifoQueue" not in queues["EventsQueue"]["Properties"]


def test_table(translated):
    tables = _of_type(translated, "AWS::DynamoDB::Table")
    assert set(tables) == {"Table"}
    p = tables["Table"]["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": {"Fn::If": ["HasKmsKey", "KMS", {"Ref": "AWS::NoValue"}]},
        "KMSMasterKeyId": _WITH_KEY,
    }
    assert p["DeletionProtectionEnabled"] == {"Fn::If": ["ProtectTable", True, False]}
    assert p["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
        # Business events: the delivery log by time.
        {
            "IndexName": "events",
            "KeySchema": [{"AttributeName": "events_pk", "KeyType": "HASH"}, {"AttributeName": "events_sk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        },
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
    # A send is one DynamoDB transaction: no queue on the request path. The queues the API
    # writes are the events queue, for a replay of logged events, and the campaign
    # queue, for a campaign's start job when its start timer is already due.
    assert {g for g in send if g[0].startswith("sqs:")} == {
        ("sqs:SendMessage", "EventsQueue"), ("sqs:SendMessage", "CampaignQueue"),
    }
    assert not any(a == "sqs:SendMessage" for a, _ in EXPECTED_GRANTS["NotifyFunction"])
    for lid in set(FUNCTIONS) - {"RelayFunction"}:
        assert ("sqs:SendMessage", "OutboundQueue") not in EXPECTED_GRANTS[lid]
    # Deleting is the erasure's (send) and, for parked work whose hold was lifted, relay's.
    for lid in set(FUNCTIONS) - {"SendFunction", "RelayFunction"}:
        assert ("dynamodb:DeleteItem", "Table") not in EXPECTED_GRANTS[lid]
    # Uploads: send may only put, campaign only get, and only under uploads/.
    s3 = {(lid, g) for lid in FUNCTIONS for g in EXPECTED_GRANTS[lid] if g[0].startswith("s3:")}
    assert s3 == {
        ("SendFunction", ("s3:PutObject", "UploadsBucket/uploads")),
        ("CampaignFunction", ("s3:GetObject", "UploadsBucket/uploads")),
    }


def test_uploads_bucket_is_private_encrypted_tls_only_and_expires_uploads(translated):
    bucket = _of_type(translated, "AWS::S3::Bucket")["UploadsBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == {"Fn::If": ["HasKmsKey", "aws:kms", "AES256"]}
    assert sse["KMSMasterKeyID"] == _WITH_KEY
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "uploads/" and rule["ExpirationInDays"] <= 7
    policy = _of_type(translated, "AWS::S3::BucketPolicy")["UploadsBucketPolicy"]["Properties"]
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    functions = _of_type(translated, "AWS::Lambda::Function")
    for lid in ("SendFunction", "CampaignFunction"):
        env = functions[lid]["Properties"]["Environment"]["Variables"]
        assert env["UPLOADS_BUCKET"] == {"Ref": "UploadsBucket"}, lid


_NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def _watched(p):
    """(namespace, metric, dimension name, resource logical id) of each metric an alarm reads."""
    stats = [m["MetricStat"]["Metric"] for m in p["Metrics"] if "MetricStat" in m] if "Metrics" in p else [p]
    out = set()
    for s in stats:
        dims = s["Dimensions"]
        namespace = s["Namespace"]
        if isinstance(namespace, dict):  # !Ref MetricsNamespace
            namespace = "Ref:" + namespace["Ref"]
        out.add((namespace, s["MetricName"], dims[0]["Name"], _ref_id(dims[0]["Value"])))
    return out


def test_alarms(translated):
    alarms = _of_type(translated, "AWS::CloudWatch::Alarm")
    watched = {}
    for lid, a in alarms.items():
        p = a["Properties"]
        # Notified when it fires and when it clears.
        assert p["AlarmActions"] == _NOTIFY, lid
        assert p["OKActions"] == _NOTIFY, lid
        assert p["ComparisonOperator"] == "GreaterThanThreshold", lid
        assert p["TreatMissingData"] == "notBreaching", lid
        if "Metrics" in p:
            returned = [m for m in p["Metrics"] if m.get("ReturnData", True)]
            assert len(returned) == 1 and returned[0]["Expression"] == "SUM(METRICS())", lid
        watched[lid] = _watched(p)

    def alarm_on(namespace, metric, resource):
        return [lid for lid, w in watched.items() if any(x[0] == namespace and x[1] == metric and x[3] == resource for x in w)]

    for q in ("OutboundDeadLetterQueue", "EventsDeadLetterQueue", "FailoverDeadLetterQueue"):
        assert alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", q), q
    assert alarm_on("AWS/SQS", "ApproximateAgeOfOldestMessage", "OutboundQueue")
    for fn in FUNCTIONS:
        assert alarm_on("AWS/Lambda", "Errors", fn), fn
        assert alarm_on("AWS/Lambda", "Throttles", fn), fn
    assert alarm_on("AWS/ApiGateway", "5xx", "HttpApi")
    assert alarm_on("AWS/ApiGateway", "Latency", "HttpApi")
    assert alarm_on("AWS/DynamoDB", "ReadThrottleEvents", "Table")
    assert alarm_on("AWS/DynamoDB", "WriteThrottleEvents", "Table")
    age = alarms[alarm_on("AWS/SQS", "ApproximateAgeOfOldestMessage", "OutboundQueue")[0]]["Properties"]
    assert age["Threshold"] == {"Ref": "OutboundMessageAgeAlarmSeconds"}
    latency = alarms[alarm_on("AWS/ApiGateway", "Latency", "HttpApi")[0]]["Properties"]
    assert latency["ExtendedStatistic"] == "p99" and latency["Threshold"] == {"Ref": "ApiLatencyAlarmMilliseconds"}
    for lid in alarm_on("AWS/ApiGateway", "5xx", "HttpApi") + alarm_on("AWS/ApiGateway", "Latency", "HttpApi"):
        dims = {d["Name"]: d["Value"] for d in alarms[lid]["Properties"]["Dimensions"]}
        assert dims["Stage"] == "$default", lid
    # The quarantine and Viber's misconfiguration answers, per stack.
    for metric in ("CallbackQuarantined", "ViberMisconfigured"):
        assert alarm_on("Ref:MetricsNamespace", metric, "AWS::StackName"), metric
    # The outbox: its failure queue and the stream's backlog.
    assert alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "RelayFailureQueue")
    assert alarm_on("AWS/Lambda", "IteratorAge", "RelayFunction")
    # Business events: the session timers' DLQ and the lifecycle stream's failures.
    assert alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "SessionTimersDeadLetterQueue")
    assert alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", "LifecycleFailureQueue")


def test_dashboard(translated):
    dash = _of_type(translated, "AWS::CloudWatch::Dashboard")
    assert len(dash) == 1
    body = next(iter(dash.values()))["Properties"]["DashboardBody"]["Fn::Sub"]
    json.loads(body)  # valid JSON before substitution (no ${...} inside strings breaks it)
    for metric in ("SendAccepted", "SendRefused", "DispatchOutcome", "CallbackLagMs", "EventsDelivered", "EventsRetried", "CallbackQuarantined", "CallbackStatusUnknown", "ViberMisconfigured", "Failover"):
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
        "ViberTransactionalText": "106", "ViberTwoWaySessions": "open",
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
        "FailoverQueueUrl", "FailoverDeadLetterQueueUrl",
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
    # The AWS managed key, or KmsKeyArn (on which inbound and status get kms:Decrypt).
    assert props["KmsKeyId"] == _WITH_KEY
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


def test_custom_domain_is_optional(translated, source_template):
    res = translated["Resources"]
    assert res["ApiDomain"]["Condition"] == "HasCustomDomain"
    assert res["ApiDomainMapping"]["Condition"] == "HasCustomDomain"
    assert res["ApiDomainRecord"]["Condition"] == "HasDomainRecord"
    mapping = res["ApiDomainMapping"]["Properties"]
    assert _ref_id(mapping["ApiId"]) == "HttpApi" and mapping["Stage"] == "$default"
    # The stage SAM generates must exist before the mapping names it.
    assert res["ApiDomainMapping"]["DependsOn"] in ("HttpApiApiGatewayDefaultStage", ["HttpApiApiGatewayDefaultStage"])
    assert "HttpApiApiGatewayDefaultStage" in res
    config = res["ApiDomain"]["Properties"]["DomainNameConfigurations"][0]
    assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
    params = source_template["Parameters"]
    assert params["ApiDomainName"]["Default"] == "" and params["ApiCertificateArn"]["Default"] == ""
    rule = source_template["Rules"]["CustomDomainNeedsCertificate"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ApiDomainName"}, ""]}]}
    assert source_template["Outputs"]["ApiCustomDomainUrl"]["Condition"] == "HasCustomDomain"


def _overrides(table):
    raw = table["parameter_overrides"]
    items = raw if isinstance(raw, list) else raw.split()
    return dict(item.split("=", 1) for item in items)


def test_samconfig_has_dev_and_prod(source_template):
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    params = source_template["Parameters"]
    stacks = set()
    for env in ("dev", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        stacks.add(deploy["stack_name"])
        assert config[env]["global"]["parameters"]["stack_name"] == deploy["stack_name"], env
        assert deploy["capabilities"] == "CAPABILITY_IAM", env
        assert f'environment="{env}"' in deploy["tags"] and 'project="vbm-serverless"' in deploy["tags"], env
        overrides = _overrides(deploy)
        unknown = set(overrides) - set(params)
        assert not unknown, (env, unknown)
        # No secret is written in the file (the callback secret is generated by the stack).
        assert not any(name.startswith("ViberCallbackSecret") for name in overrides), env
        for name, value in overrides.items():
            allowed = params[name].get("AllowedValues")
            if allowed is not None:
                assert value in [str(v) for v in allowed], (env, name, value)
    assert len(stacks) == 2, "dev and prod are different stacks"
    prod = _overrides(config["prod"]["deploy"]["parameters"])
    assert prod["DeletionProtection"] == "true" and prod["LogLevel"] == "INFO"
    assert prod["AlarmTopicArn"].startswith("arn:aws:sns:")
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert _overrides(config["dev"]["deploy"]["parameters"])["DeletionProtection"] == "false"


def test_sms_failover_receipts_reach_the_failover_queue(translated):
    """SMS failover: End User Messaging's delivery receipts go through the
    configuration set's SNS event destination to the failover queue, raw."""
    sets = _of_type(translated, "AWS::SMSVOICE::ConfigurationSet")
    assert set(sets) == {"FailoverConfigurationSet"}
    (dest,) = sets["FailoverConfigurationSet"]["Properties"]["EventDestinations"]
    assert dest["Enabled"] is True
    assert _ref_id(dest["SnsDestination"]["TopicArn"]) == "FailoverReceiptsTopic"
    assert "TEXT_DELIVERED" in dest["MatchingEventTypes"]
    # The failures the function records are the ones the destination sends.
    receipt = (ROOT / "functions/failover/src/receipt.rs").read_text()
    for kind in dest["MatchingEventTypes"]:
        assert f'"{kind}"' in receipt, kind
    (sub,) = _of_type(translated, "AWS::SNS::Subscription").values()
    p = sub["Properties"]
    assert p["Protocol"] == "sqs" and p["RawMessageDelivery"] is True
    assert _ref_id(p["Endpoint"]) == "FailoverQueue"
    assert _ref_id(p["TopicArn"]) == "FailoverReceiptsTopic"
    (topic_policy,) = _of_type(translated, "AWS::SNS::TopicPolicy").values()
    (st,) = topic_policy["Properties"]["PolicyDocument"]["Statement"]
    assert st["Principal"] == {"Service": "sms-voice.amazonaws.com"} and st["Action"] == "sns:Publish"
    assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (queue_policy,) = _of_type(translated, "AWS::SQS::QueuePolicy").values()
    (st,) = queue_policy["Properties"]["PolicyDocument"]["Statement"]
    assert st["Principal"] == {"Service": "sns.amazonaws.com"} and st["Action"] == "sqs:SendMessage"
    assert st["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "FailoverReceiptsTopic"}}}


def test_kms_key_encrypts_everything_when_given(translated, source_template):
    """KmsKeyArn (optional, empty by default): when given, the table, every queue, every log
    group, the callback secret, the receipts topic, the uploads bucket and every function's
    environment use it; when empty, the AWS-owned or AWS managed keys (SSE-SQS for queues)."""
    param = source_template["Parameters"]["KmsKeyArn"]
    assert param["Default"] == ""
    assert re.fullmatch(param["AllowedPattern"], "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab")
    assert not re.fullmatch(param["AllowedPattern"], "alias/aws/sqs")
    assert source_template["Conditions"]["HasKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
    res = translated["Resources"]
    queues = _of_type(translated, "AWS::SQS::Queue")
    assert len(queues) == 12
    for lid, q in queues.items():
        p = q["Properties"]
        assert p["KmsMasterKeyId"] == _WITH_KEY, lid
        assert p["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}, lid
    groups = _of_type(translated, "AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS) + 1
    for lid, g in groups.items():
        assert g["Properties"]["KmsKeyId"] == _WITH_KEY, lid
    assert res["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == _WITH_KEY
    assert res["ViberCallbackSecret"]["Properties"]["KmsKeyId"] == _WITH_KEY
    assert res["FailoverReceiptsTopic"]["Properties"]["KmsMasterKeyId"] == _WITH_KEY
    sse = res["UploadsBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == _WITH_KEY
    assert sse["BucketKeyEnabled"] == {"Fn::If": ["HasKmsKey", True, {"Ref": "AWS::NoValue"}]}
    for lid, fn in _of_type(translated, "AWS::Lambda::Function").items():
        assert fn["Properties"]["KmsKeyArn"] == _WITH_KEY, lid
    # Every resource type that can hold a key names it: nothing encrypted is left out.
    for lid, r in res.items():
        if r["Type"] in ("AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret", "AWS::SNS::Topic"):
            assert "Kms" in json.dumps(r["Properties"]), lid


CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _checkov(path):
    """checkov's JSON report on a template (offline: no download of its guidelines)."""
    proc = subprocess.run(
        [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--skip-download", "--compact",
         "-o", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def test_checkov_clean():
    """checkov (infra/requirements-checkov.txt): no failed check. Each check that does not fit
    is skipped in the template's Metadata with its reason (docs/hardening.md, Scanners)."""
    report = _checkov(TEMPLATE)
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50
    for skipped in report["results"]["skipped_checks"]:
        # A reason, not a bare id.
        assert len(skipped["check_result"].get("suppress_comment", "")) > 40, skipped["resource"]


def test_checkov_finds_what_it_should(tmp_path):
    """The same scan fails a template without the customer key on the queues and the table,
    and without one of the bucket's skips (so a clean run above means something)."""
    text = TEMPLATE.read_text()
    queue_key = (
        "      SqsManagedSseEnabled: !If [HasKmsKey, !Ref AWS::NoValue, true]\n"
        "      KmsMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]\n"
    )
    assert text.count(queue_key) == 12
    stripped = text.replace(queue_key, "      SqsManagedSseEnabled: true\n")
    stripped = stripped.replace("        KMSMasterKeyId: !If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]\n", "")
    stripped = stripped.replace("          - id: CKV_AWS_21\n", "          - id: CKV_AWS_NONE\n")
    bad = tmp_path / "template.yaml"
    bad.write_text(stripped)
    report = _checkov(bad)
    assert report["summary"]["parsing_errors"] == 0
    failed = {(c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["failed_checks"]}
    assert failed == {
        *(("CKV_AWS_27", q) for q in (
            "OutboundQueue", "OutboundDeadLetterQueue", "RelayFailureQueue", "EventsQueue", "EventsDeadLetterQueue",
            "SessionTimersQueue", "SessionTimersDeadLetterQueue", "LifecycleFailureQueue", "CampaignQueue",
            "CampaignDeadLetterQueue", "FailoverQueue", "FailoverDeadLetterQueue",
        )),
        ("CKV_AWS_119", "Table"),
        ("CKV_AWS_21", "UploadsBucket"),
    }, failed
