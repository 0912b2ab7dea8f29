"""infra/local/resources.py creates the template's table and queues on the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import boto3

from conftest import ROOT

SCRIPT = ROOT / "infra" / "local" / "resources.py"


def _run(endpoint: str, table: str, prefix: str) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--endpoint", endpoint, "--table", table, "--prefix", prefix],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(proc.stdout)


def test_resources_match_template(moto_endpoint, source_template):
    suffix = uuid.uuid4().hex[:6]
    table, prefix = f"vbm-test-{suffix}", f"t{suffix}-"
    out = _run(moto_endpoint, table, prefix)
    again = _run(moto_endpoint, table, prefix)  # idempotent
    assert out == again
    assert set(out) == {
        "table", "stream_arn", "outbound_queue_url", "events_queue_url", "outbound_dlq_url",
        "events_dlq_url", "relay_failure_queue_url", "timers_group",
        "campaign_queue_url", "campaign_dlq_url",  # campaigns
        "failover_queue_url", "failover_dlq_url",  # SMS failover
        # Business events.
        "session_timers_queue_url", "session_timers_dlq_url", "lifecycle_failure_queue_url",
        "uploads_bucket",  # campaigns' uploaded lists
    }
    assert out["uploads_bucket"] == f"{prefix}uploads"
    assert out["timers_group"] == f"{prefix}timers"
    assert "/stream/" in out["stream_arn"]
    assert out["table"] == table
    assert out["outbound_queue_url"].endswith(f"/{prefix}outbound.fifo")
    assert out["outbound_dlq_url"].endswith(f"/{prefix}outbound-dlq.fifo")
    assert out["events_queue_url"].endswith(f"/{prefix}events")
    assert out["events_dlq_url"].endswith(f"/{prefix}events-dlq")
    assert out["failover_queue_url"].endswith(f"/{prefix}failover")
    assert out["failover_dlq_url"].endswith(f"/{prefix}failover-dlq")

    resources = source_template["Resources"]
    params = source_template["Parameters"]
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")

    # Table: same keys, attributes, billing, TTL.
    tprops = resources["Table"]["Properties"]
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["KeySchema"] == tprops["KeySchema"]
    assert sorted(desc["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        tprops["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    assert desc["BillingModeSummary"]["BillingMode"] == tprops["BillingMode"]
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == tprops["TimeToLiveSpecification"]["AttributeName"] == "expires_at"

    # Queues: template attributes, redrive to the local DLQ with the template's maxReceiveCount.
    urls = {
        "OutboundQueue": out["outbound_queue_url"],
        "OutboundDeadLetterQueue": out["outbound_dlq_url"],
        "EventsQueue": out["events_queue_url"],
        "EventsDeadLetterQueue": out["events_dlq_url"],
        "FailoverQueue": out["failover_queue_url"],
        "FailoverDeadLetterQueue": out["failover_dlq_url"],
    }
    attrs = {lid: sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["All"])["Attributes"] for lid, u in urls.items()}
    for lid, a in attrs.items():
        props = resources[lid]["Properties"]
        assert a.get("FifoQueue", "false") == str(props.get("FifoQueue", False)).lower(), lid
        if "ContentBasedDeduplication" in props:
            assert a["ContentBasedDeduplication"] == str(props["ContentBasedDeduplication"]).lower(), lid
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in props:
                assert a[key] == str(props[key]), (lid, key)
        if "RedrivePolicy" in props:
            dlq_lid = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            redrive = json.loads(a["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"] == attrs[dlq_lid]["QueueArn"], lid
            max_count = props["RedrivePolicy"]["maxReceiveCount"]
            if isinstance(max_count, dict):
                max_count = params[max_count["Ref"]]["Default"]
            assert int(redrive["maxReceiveCount"]) == int(max_count), lid
        else:
            assert "RedrivePolicy" not in a, lid
    assert attrs["OutboundQueue"]["FifoQueue"] == "true"
    assert attrs["OutboundQueue"]["ContentBasedDeduplication"] == "false"
    assert "FifoQueue" not in attrs["EventsQueue"] or attrs["EventsQueue"]["FifoQueue"] == "false"
