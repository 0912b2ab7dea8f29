"""The emulator must make conditional writes atomic, as DynamoDB does.

Plain moto handles requests on several threads without atomicity: concurrent
conditional transactions against a cap can all pass the condition. Our server
(infra/moto/serial_moto.py) serializes requests; this test proves it with real
concurrency: 10 trials of 50 threads racing to bump a counter capped at 5.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CAP = 5
THREADS = 50
TRIALS = 10


def _client(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=THREADS, retries={"max_attempts": 1}),
    )


def test_conditional_transactions_are_atomic(moto_endpoint):
    ddb = _client(moto_endpoint)
    table = f"serial-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        for trial in range(TRIALS):
            pk = f"session#{trial}"
            barrier = threading.Barrier(THREADS)
            lock = threading.Lock()
            outcomes = {"ok": 0, "refused": 0, "other": []}

            def attempt(i: int) -> None:
                barrier.wait()
                try:
                    ddb.transact_write_items(
                        TransactItems=[
                            {
                                "Update": {
                                    "TableName": table,
                                    "Key": {"pk": {"S": pk}},
                                    "UpdateExpression": "ADD #c :one",
                                    "ConditionExpression": "attribute_not_exists(#c) OR #c < :cap",
                                    "ExpressionAttributeNames": {"#c": "counter"},
                                    "ExpressionAttributeValues": {
                                        ":one": {"N": "1"},
                                        ":cap": {"N": str(CAP)},
                                    },
                                }
                            },
                            {
                                "Put": {
                                    "TableName": table,
                                    "Item": {"pk": {"S": f"{pk}#msg#{i}"}},
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            },
                        ]
                    )
                    with lock:
                        outcomes["ok"] += 1
                except ClientError as e:
                    code = e.response["Error"]["Code"]
                    with lock:
                        if code == "TransactionCanceledException":
                            outcomes["refused"] += 1
                        else:
                            outcomes["other"].append(code)

            threads = [threading.Thread(target=attempt, args=(i,)) for i in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

            assert outcomes["other"] == [], f"trial {trial}: unexpected errors {outcomes['other']}"
            assert outcomes["ok"] == CAP, f"trial {trial}: {outcomes}"
            assert outcomes["refused"] == THREADS - CAP, f"trial {trial}: {outcomes}"
            item = ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)["Item"]
            assert item["counter"]["N"] == str(CAP)
            # Exactly the admitted sends wrote their message record.
            msgs = ddb.scan(
                TableName=table,
                FilterExpression="begins_with(pk, :p)",
                ExpressionAttributeValues={":p": {"S": f"{pk}#msg#"}},
            )["Items"]
            assert len(msgs) == CAP
    finally:
        ddb.delete_table(TableName=table)


def _sqs(endpoint: str):
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, read_timeout=30),
    )


def test_a_long_poll_does_not_hold_the_lock(moto_endpoint):
    """A message sent while another client long-polls the queue reaches that poll.

    Were the wait made under the lock, the send would queue behind it and the poll would end
    empty (the local stack's queue pollers would stop the emulator for a second at a time).
    """
    sqs = _sqs(moto_endpoint)
    for fifo in (False, True):
        name = f"poll-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        received: list = []
        poller = threading.Thread(
            target=lambda: received.extend(
                sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
            )
        )
        poller.start()
        time.sleep(0.5)  # let the poll begin waiting
        extra = {"MessageGroupId": "g", "MessageDeduplicationId": "d"} if fifo else {}
        sqs.send_message(QueueUrl=url, MessageBody="hello", **extra)
        poller.join()
        assert [m["Body"] for m in received] == ["hello"], f"fifo={fifo}: {received}"


def test_a_long_poll_of_an_empty_queue_ends_empty(moto_endpoint):
    sqs = _sqs(moto_endpoint)
    url = sqs.create_queue(QueueName=f"empty-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert answer.get("Messages", []) == []


def test_a_waiting_poll_gets_a_message_whose_visibility_timeout_ends(moto_endpoint):
    """No request marks the end of a visibility timeout: the waiting poll must wake for it.

    A marker is sent 5 s later: a poll that slept past the timeout's end (woken only by the
    marker, or at the end of its 20 s) would answer both messages."""
    sqs = _sqs(moto_endpoint)
    url = sqs.create_queue(QueueName=f"again-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert [m["Body"] for m in first] == ["again"]
    received = _poll_then_send(sqs, url, {"MessageBody": "marker"})
    assert received == ["again"]


def _poll_then_send(sqs, url: str, marker: dict, before=lambda: None) -> list[str]:
    """A 20 s poll of the queue, with ``before()`` run once it waits and ``marker`` sent 5 s
    after that; the bodies the poll answered."""
    received: list = []
    poller = threading.Thread(
        target=lambda: received.extend(
            m["Body"]
            for m in sqs.receive_message(
                QueueUrl=url, WaitTimeSeconds=20, MaxNumberOfMessages=10
            ).get("Messages", [])
        )
    )
    poller.start()
    time.sleep(0.5)  # let the poll begin waiting
    before()
    time.sleep(5)
    sqs.send_message(QueueUrl=url, **marker)
    poller.join()
    return received


def test_a_waiting_poll_gets_the_next_message_of_a_fifo_group_when_one_is_deleted(moto_endpoint):
    """The in-flight message of a FIFO group holds the group back until it is deleted; the
    delete must wake a poll waiting on that queue (the in-flight one would not come back for 60 s;
    a poll that slept on would answer the marker too)."""
    sqs = _sqs(moto_endpoint)
    url = sqs.create_queue(
        QueueName=f"group-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    for n in ("one", "two"):
        sqs.send_message(
            QueueUrl=url, MessageBody=n, MessageGroupId="g", MessageDeduplicationId=n
        )
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]
    assert [m["Body"] for m in first] == ["one"]
    received = _poll_then_send(
        sqs,
        url,
        {"MessageBody": "marker", "MessageGroupId": "h", "MessageDeduplicationId": "marker"},
        before=lambda: sqs.delete_message(
            QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"]
        ),
    )
    assert received == ["two"]


def test_a_send_wakes_only_the_polls_of_its_queue():
    """Unit test of the middleware over a stand-in WSGI app that counts receives: 40 sends to
    one queue must not make a poll waiting on another queue poll again (each wake is a call under
    the one lock, and with many stacks' pollers waiting, waking all on every send was a herd)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "moto"))
    import serial_moto

    receives: dict[str, int] = {}
    queues: dict[str, list[str]] = {}

    def app(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = json.loads(body or b"{}")
        action = environ["HTTP_X_AMZ_TARGET"].removeprefix("AmazonSQS.")
        queue = queues.setdefault(request["QueueUrl"], [])
        answer: dict = {}
        if action == "SendMessage":
            queue.append(request["MessageBody"])
        elif action == "ReceiveMessage":
            receives[request["QueueUrl"]] = receives.get(request["QueueUrl"], 0) + 1
            if queue:
                answer = {"Messages": [{"Body": b} for b in queue]}
                queue.clear()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [json.dumps(answer).encode()]

    middleware = serial_moto.SerializedApp(app)
    # Account "000000000000" has no queues in this process's moto: no visibility end to wait for.
    quiet = "http://localhost/000000000000/quiet"
    busy = "http://localhost/000000000000/busy"

    def call(action: str, request: dict) -> None:
        body = json.dumps(request).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_X_AMZ_TARGET": f"AmazonSQS.{action}",
            "wsgi.input": io.BytesIO(body),
        }
        middleware(environ, lambda status, headers, *exc: None)

    poll = threading.Thread(
        target=call, args=("ReceiveMessage", {"QueueUrl": quiet, "WaitTimeSeconds": 2})
    )
    poll.start()
    time.sleep(0.2)
    for n in range(40):
        call("SendMessage", {"QueueUrl": busy, "MessageBody": str(n)})
    poll.join()
    # The first short poll and the last one at the end of the wait; none for the 40 sends to
    # the other queue.
    assert receives == {quiet: 2}
    # A send to its own queue does wake it: one more poll, which takes the message.
    poll = threading.Thread(
        target=call, args=("ReceiveMessage", {"QueueUrl": quiet, "WaitTimeSeconds": 2})
    )
    poll.start()
    time.sleep(0.2)
    call("SendMessage", {"QueueUrl": quiet, "MessageBody": "x"})
    poll.join()
    assert receives == {quiet: 4}


def test_a_cancelled_transaction_leaves_every_touched_item_as_it_was(moto_endpoint):
    """The emulator backs up only the items a transaction touches (not whole tables): a
    cancellation after earlier writes must still undo them, new items included."""
    ddb = _client(moto_endpoint)
    table = f"rollback-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        key = {"pk": {"S": "conv"}, "sk": {"S": "CONV"}}
        ddb.put_item(TableName=table, Item={**key, "n": {"N": "1"}})
        ddb.put_item(TableName=table, Item={"pk": {"S": "idem"}, "sk": {"S": "IDEM"}})
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": key,
                            "UpdateExpression": "ADD n :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "msg"}, "sk": {"S": "MSG"}}}},
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "idem"}, "sk": {"S": "IDEM"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
            raise AssertionError("the transaction should have been cancelled")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "TransactionCanceledException"
        items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        assert sorted((i["pk"]["S"], i.get("n", {}).get("N")) for i in items) == [
            ("conv", "1"),
            ("idem", None),
        ]
    finally:
        ddb.delete_table(TableName=table)


def _stream_records(endpoint: str, table: str) -> list[dict]:
    ddb = _client(endpoint)
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    records = []
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return records


def test_a_cancelled_transaction_leaves_no_stream_record(moto_endpoint):
    """The table's stream is the outbox of a send (relay queues every message it carries), so
    a transaction cancelled after moto already wrote some of its items must leave no record of
    them; a committed one leaves its message's INSERT."""
    ddb = _client(moto_endpoint)
    table = f"stream-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )

    def send(message: str) -> None:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}, "sk": {"S": f"MSG#{message}"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "b"}, "sk": {"S": "IDEM#k"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    try:
        send("first")
        try:
            send("second")  # the idempotency record exists: cancelled after the message's Put
            raise AssertionError("the transaction should have been cancelled")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "TransactionCanceledException"
        keys = [r["dynamodb"]["Keys"]["sk"]["S"] for r in _stream_records(moto_endpoint, table)]
        assert "MSG#first" in keys
        assert "MSG#second" not in keys
    finally:
        ddb.delete_table(TableName=table)
