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


def _streamed_table(ddb, name: str) -> str:
    """A table with a NEW_AND_OLD_IMAGES stream; returns the stream's ARN."""
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def _first_iterator(streams, arn: str) -> str:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    return streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]


def test_stream_records_carry_what_was_written(moto_endpoint):
    """The stream's answers (encoded once per record by the emulator) are what DynamoDB sends:
    each record's keys and both images as typed JSON, and a creation time the SDK reads."""
    ddb = _client(moto_endpoint)
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = _streamed_table(ddb, f"wire-{uuid.uuid4().hex[:8]}")
    table = arn.split(":")[5].split("/")[1]
    item = {
        "pk": {"S": "a"},
        "n": {"N": "1"},
        "l": {"L": [{"S": "x"}, {"B": b"\x00\xff"}]},
        "raw": {"B": b"\x01binary\xfe"},
        "set": {"BS": [b"\x02"]},
        "m": {"M": {"k": {"B": b"\x03"}}},
    }
    ddb.put_item(TableName=table, Item=item)
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET n = :two",
        ExpressionAttributeValues={":two": {"N": "2"}},
    )
    # Read twice: the second answer comes from the kept encoding and must be the same.
    for _ in range(2):
        records = streams.get_records(ShardIterator=_first_iterator(streams, arn))["Records"]
        assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
        inserted, modified = (r["dynamodb"] for r in records)
        assert inserted["Keys"] == {"pk": {"S": "a"}}
        assert inserted["NewImage"] == item
        assert "OldImage" not in inserted
        assert modified["OldImage"]["n"] == {"N": "1"} and modified["NewImage"]["n"] == {"N": "2"}
        assert int(modified["SequenceNumber"]) > int(inserted["SequenceNumber"])
        age = time.time() - modified["ApproximateCreationDateTime"].timestamp()
        assert -5 < age < 120, modified["ApproximateCreationDateTime"]


def test_a_reader_following_the_stream_is_answered_when_the_table_is_written(moto_endpoint):
    """A reader that says it follows the stream (the local stack's readers name the application
    `vbm-stream-follower` in their user agent) gets an empty answer only after 0.8 s, unless the
    table is written meanwhile: then at once, with the new record. So an idle stack does not
    read the stream ten times a second. Any other reader is answered at once."""
    ddb = _client(moto_endpoint)
    plain = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    follower = boto3.client(
        "dynamodbstreams",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        config=Config(user_agent_appid="vbm-stream-follower"),
    )
    arn = _streamed_table(ddb, f"follow-{uuid.uuid4().hex[:8]}")
    table = arn.split(":")[5].split("/")[1]
    iterator = _first_iterator(plain, arn)

    started = time.monotonic()
    assert plain.get_records(ShardIterator=iterator)["Records"] == []
    assert time.monotonic() - started < 0.5

    started = time.monotonic()
    idle = follower.get_records(ShardIterator=iterator)
    waited = time.monotonic() - started
    assert idle["Records"] == [] and waited >= 0.7, waited

    got: dict = {}
    reader = threading.Thread(
        target=lambda: got.update(follower.get_records(ShardIterator=idle["NextShardIterator"]))
    )
    started = time.monotonic()
    reader.start()
    time.sleep(0.3)
    ddb.put_item(TableName=table, Item={"pk": {"S": "woken"}})
    reader.join()
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in got["Records"]] == ["woken"]
    assert time.monotonic() - started < 0.7


def test_a_followed_stream_read_waits_without_reading_again():
    """Unit test of the middleware over a stand-in WSGI app that counts stream reads: a
    follower's empty read is tried once, then once more at the end of its 0.8 s wait, with
    nothing in between (a wait that re-read in a loop would cost the emulator hundreds of
    reads a second per idle stack); a write to another table does not wake it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "moto"))
    import serial_moto

    reads = []

    def app(environ, start_response):
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ["HTTP_X_AMZ_TARGET"] == serial_moto.STREAM_READ:
            reads.append(time.monotonic())
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b'{"NextShardIterator":"next","Records":[]}']

    middleware = serial_moto.SerializedApp(app)
    iterator = "arn:aws:dynamodb:us-east-1:123456789012:table/quiet/stream/2026-12-08T00:00:00|1|x"

    def call(target: str, request: dict, agent: str = "") -> None:
        body = json.dumps(request).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "HTTP_X_AMZ_TARGET": target,
            "HTTP_USER_AGENT": agent,
            "wsgi.input": io.BytesIO(body),
        }
        middleware(environ, lambda status, headers, *exc: None)

    reader = threading.Thread(
        target=call,
        args=(serial_moto.STREAM_READ, {"ShardIterator": iterator}, "app/vbm-stream-follower"),
    )
    started = time.monotonic()
    reader.start()
    time.sleep(0.2)
    call("DynamoDB_20120810.PutItem", {"TableName": "busy", "Item": {"pk": {"S": "a"}}})
    reader.join()
    assert len(reads) == 2, reads
    assert reads[1] - started >= 0.7


def test_the_lighter_retention_check_answers_as_moto_does():
    """Unit test of the lighter retention check against moto's own, on moto's backend in this
    process: a message past the queue's retention period is not valid, a fresh one is."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra" / "moto"))
    import serial_moto
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import SQSBackend, sqs_backends

    backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    name = f"kept-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name, MessageRetentionPeriod="60")
    backend.send_message(name, "old")
    backend.send_message(name, "new")
    messages = {m.body: m for m in backend.get_queue(name)._messages}
    messages["old"].sent_timestamp -= 61_000  # sent 61 s before, past the queue's 60 s
    moto_check = SQSBackend.is_message_valid_based_on_retention_period
    serial_moto.lighter_sqs_receives()
    try:
        for body, valid in (("old", False), ("new", True)):
            assert moto_check(backend, name, messages[body]) is valid
            assert backend.is_message_valid_based_on_retention_period(name, messages[body]) is valid
    finally:
        SQSBackend.is_message_valid_based_on_retention_period = moto_check


def test_update_expressions_update_as_written(moto_endpoint):
    """The update expression forms the project writes, on the emulator with its lighter copy of
    the expression tree: each result is the one DynamoDB documents (a copy that lost or reordered
    a child, or kept a parsed value from an earlier request, would change one)."""
    ddb = _client(moto_endpoint)
    table = f"update-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def update(expression: str, values: dict, names: dict | None = None, **extra) -> dict:
        return ddb.update_item(
            TableName=table,
            Key={"pk": {"S": "k"}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
            ReturnValues="ALL_NEW",
            **extra,
        )["Attributes"]

    # Creates the item (validated twice by moto): every action applies once.
    item = update(
        "SET #h = list_append(if_not_exists(#h, :empty), :one) ADD #c :two",
        {":empty": {"L": []}, ":one": {"L": [{"S": "a"}]}, ":two": {"N": "2"}},
        {"#h": "history", "#c": "count"},
    )
    assert item["history"] == {"L": [{"S": "a"}]} and item["count"] == {"N": "2"}
    item = update(
        "SET #h = list_append(#h, :more), #s = :s ADD #c :two",
        {":more": {"L": [{"S": "b"}, {"S": "c"}]}, ":s": {"S": "sent"}, ":two": {"N": "2"}},
        {"#h": "history", "#s": "status", "#c": "count"},
    )
    assert [v["S"] for v in item["history"]["L"]] == ["a", "b", "c"]
    assert item["count"] == {"N": "4"} and item["status"] == {"S": "sent"}
    item = update("REMOVE #h[0] SET #n = :n", {":n": {"N": "7"}}, {"#h": "history", "#n": "n"})
    assert [v["S"] for v in item["history"]["L"]] == ["b", "c"] and item["n"] == {"N": "7"}
    # The same expression again: a copy that shared nodes with the first would carry its values.
    item = update("SET #n = :n", {":n": {"N": "8"}}, {"#n": "n"})
    item = update("SET #n = :n", {":n": {"N": "9"}}, {"#n": "n"})
    assert item["n"] == {"N": "9"}
