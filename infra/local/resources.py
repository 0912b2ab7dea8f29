#!/usr/bin/env python3
"""Create the template's DynamoDB table, SQS queues, S3 buckets and schedule groups on a local endpoint (moto).

template.yaml is the one source of truth: this reads its ``AWS::DynamoDB::Table``,
``AWS::SQS::Queue`` and ``AWS::Scheduler::ScheduleGroup`` resources and creates them with the same key schema,
attributes, TTL and queue attributes (FIFO, deduplication, visibility timeout,
retention, redrive policy to the created dead-letter queue with the template's
maxReceiveCount). Only what can be resolved locally is resolved: parameter
defaults, queue ARNs/names/URLs. Idempotent: existing resources are updated.

Usage:
    resources.py --endpoint http://127.0.0.1:5000 [--table vbm] [--prefix vbm-]

Prints a JSON object: {"table": ..., "stream_arn": ..., "outbound_queue_url": ...,
"events_queue_url": ..., "outbound_dlq_url": ..., "events_dlq_url": ...,
"relay_failure_queue_url": ..., "timers_group": ..., "uploads_bucket": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_yaml import load_template  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# Queue attributes that mean the same locally; the rest (SSE, KMS, tags) are AWS-only.
_QUEUE_ATTRIBUTES = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
)


class Unresolvable(Exception):
    pass


def queue_base(logical_id: str) -> tuple[str, bool]:
    """``OutboundDeadLetterQueue`` -> ("outbound", True); ``EventsQueue`` -> ("events", False)."""
    dlq = False
    base = logical_id
    for suffix, is_dlq in (("DeadLetterQueue", True), ("DLQ", True), ("Queue", False)):
        if base.endswith(suffix) and base != suffix:
            base, dlq = base[: -len(suffix)], is_dlq
            break
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", base).lower()
    return kebab, dlq


def local_queue_name(logical_id: str, props: dict[str, Any], prefix: str) -> str:
    base, dlq = queue_base(logical_id)
    name = f"{prefix}{base}{'-dlq' if dlq else ''}"
    if str(props.get("FifoQueue", "")).lower() == "true":
        name += ".fifo"
    return name


def output_key(logical_id: str) -> str:
    base, dlq = queue_base(logical_id)
    snake = base.replace("-", "_")
    return f"{snake}_dlq_url" if dlq else f"{snake}_queue_url"


class Resolver:
    """Resolves the intrinsics that have a local meaning."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.parameters = template.get("Parameters", {}) or {}
        self.queues: dict[str, dict[str, str]] = {}  # logical id -> url, arn, name

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                if arg in self.parameters and "Default" in self.parameters[arg]:
                    return self.parameters[arg]["Default"]
                if arg in self.queues:
                    return self.queues[arg]["url"]
                raise Unresolvable(f"!Ref {arg}")
            if key == "Fn::GetAtt":
                resource, attribute = arg
                if resource in self.queues and attribute in ("Arn", "QueueName", "QueueUrl"):
                    return self.queues[resource][{"Arn": "arn", "QueueName": "name", "QueueUrl": "url"}[attribute]]
                raise Unresolvable(f"!GetAtt {resource}.{attribute}")
            if key.startswith("Fn::"):
                raise Unresolvable(key)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def _as_attribute(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ensure_table(ddb, name: str, props: dict[str, Any], resolve: Resolver) -> None:
    create: dict[str, Any] = {
        "TableName": name,
        "KeySchema": resolve(props["KeySchema"]),
        "AttributeDefinitions": resolve(props["AttributeDefinitions"]),
        "BillingMode": resolve(props.get("BillingMode", "PAY_PER_REQUEST")),
    }
    if create["BillingMode"] == "PROVISIONED":
        create["ProvisionedThroughput"] = resolve(props["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            create[key] = resolve(props[key])
    if props.get("StreamSpecification"):
        create["StreamSpecification"] = {"StreamEnabled": True, **resolve(props["StreamSpecification"])}
    try:
        ddb.describe_table(TableName=name)
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        try:
            ddb.create_table(**create)
        except ClientError as e2:
            if e2.response["Error"]["Code"] != "ResourceInUseException":
                raise
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})

    ttl = props.get("TimeToLiveSpecification")
    if ttl and _as_attribute(resolve(ttl.get("Enabled"))) == "true":
        current = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": resolve(ttl["AttributeName"]), "Enabled": True},
            )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if _as_attribute(resolve(pitr.get("PointInTimeRecoveryEnabled", False))) == "true":
        try:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        except ClientError:
            pass  # nice to have locally, not needed


def queue_attributes(props: dict[str, Any], resolve: Resolver) -> dict[str, str]:
    attrs = {k: _as_attribute(resolve(props[k])) for k in _QUEUE_ATTRIBUTES if k in props}
    if "RedrivePolicy" in props:
        policy = resolve(props["RedrivePolicy"])
        attrs["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}
        )
    return attrs


def _depends_on_queue(props: dict[str, Any]) -> bool:
    return "RedrivePolicy" in props


def ensure_queue(sqs, name: str, attrs: dict[str, str]) -> str:
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as e:
        if e.response["Error"]["Code"] not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        return sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    mutable = {k: v for k, v in attrs.items() if k != "FifoQueue"}
    if mutable:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    return url


def create_resources(endpoint: str, table: str = "vbm", prefix: str = "vbm-", template_path: Path | None = None) -> dict[str, str]:
    template = load_template(template_path or ROOT / "template.yaml")
    resources = template.get("Resources", {})
    resolve = Resolver(template)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=region,
    )
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)

    out: dict[str, str] = {}
    tables = [(lid, r) for lid, r in resources.items() if r.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        raise SystemExit(f"expected one AWS::DynamoDB::Table in the template, found {len(tables)}")
    ensure_table(ddb, table, tables[0][1].get("Properties", {}), resolve)
    out["table"] = table
    stream = ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if stream:
        out["stream_arn"] = stream

    queues = [(lid, r.get("Properties", {}) or {}) for lid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"]
    # Dead-letter queues first, so redrive policies can point at their ARNs.
    queues.sort(key=lambda q: _depends_on_queue(q[1]))
    for logical_id, props in queues:
        name = local_queue_name(logical_id, props, prefix)
        url = ensure_queue(sqs, name, queue_attributes(props, resolve))
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resolve.queues[logical_id] = {"url": url, "arn": arn, "name": name}
        out[output_key(logical_id)] = url

    # S3 buckets (campaigns' uploaded lists): private by default on the emulator too.
    buckets = [lid for lid, r in resources.items() if r.get("Type") == "AWS::S3::Bucket"]
    if buckets:
        s3 = session.client("s3", endpoint_url=endpoint)
        for logical_id in buckets:
            base = re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id.removesuffix("Bucket")).lower()
            name = f"{prefix}{base}"
            try:
                if region == "us-east-1":
                    s3.create_bucket(Bucket=name)
                else:
                    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
            except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                pass
            out[f"{base.replace('-', '_')}_bucket"] = name

    # EventBridge Scheduler groups (the timers): created so timers can be set; the emulator
    # never fires them, the devstack does (vbm_timers::dev).
    groups = [lid for lid, r in resources.items() if r.get("Type") == "AWS::Scheduler::ScheduleGroup"]
    if groups:
        scheduler = session.client("scheduler", endpoint_url=endpoint)
        for logical_id in groups:
            base = re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id.removesuffix("Group")).lower()
            name = f"{prefix}{base}"
            try:
                scheduler.create_schedule_group(Name=name)
            except scheduler.exceptions.ConflictException:
                pass
            out[f"{base.replace('-', '_')}_group"] = name
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Create template.yaml's table and queues on a local endpoint.")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="emulator URL (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--table", default="vbm", help="local table name (default vbm)")
    parser.add_argument("--prefix", default="vbm-", help="queue name prefix (default vbm-)")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="SAM template")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("--endpoint is required (or set AWS_ENDPOINT_URL)")
    print(json.dumps(create_resources(args.endpoint, args.table, args.prefix, args.template), indent=2))


if __name__ == "__main__":
    main()
