#!/usr/bin/env python3
"""moto server with every request serialized.

moto's own server runs each request on its own thread, and its backends are not
atomic: two concurrent conditional writes can both see the old item and both
succeed (50 concurrent ``TransactWriteItems`` against a cap of 5 admitted 6 in
one trial of ten). DynamoDB itself guarantees atomic conditions, and the
session rules depend on it, so this server holds one global lock for the whole
of each request, including producing the response body. Connections are still
accepted concurrently (threaded WSGI server); only the handling is one at a time.

SQS long polls are the exception: moto waits for messages inside the request, which under the
lock would stop every other client for the whole wait (and no message could arrive to end it).
A ``ReceiveMessage`` with ``WaitTimeSeconds`` > 0 is therefore answered by short polls, each
under the lock, with the lock released between them, until a message comes or the wait is over.
A waiting poll polls again only when its own queue may have a message for it: after a send, a
visibility change or a delete (a FIFO group unblocks) on that queue, or when a message's
visibility timeout or delay ends. So idle pollers cost the emulator one call per wait, and a
send wakes only the polls of its queue (waking every poll on any send made a thundering herd
when several local stacks shared one emulator).

Usage: serial_moto.py [--host 127.0.0.1] [--port 5000] [--verbose]
Readiness probe: ``GET /moto-api/`` (or any request).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import signal
import sys
import threading
import time
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlparse

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


# A waiting poll polls again after a request that can make a message of its queue receivable
# (below), and when a visibility timeout or delay ends; this often when that time is unknown.
REPOLL_SECONDS = 0.25
SQS_CHANGES = {
    "SendMessage",
    "SendMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    # A FIFO group's next message becomes receivable when the one in flight is deleted.
    "DeleteMessage",
    "DeleteMessageBatch",
}
# The generation key of a change whose queue could not be read: it wakes every waiting poll.
ANY_QUEUE = ""
# Deleting a message makes another receivable only in a FIFO queue (its group unblocks).
DELETES = {"DeleteMessage", "DeleteMessageBatch"}

# A stream read that finds nothing, from a reader that says it follows the stream (its user
# agent names this application: the local stack's readers, `infra/devstack`), is answered when
# the table is next written, or empty after this long: under the functions' 1.5 s attempt
# timeout (`vbm_platform::aws`). Other readers (tests draining the stream) are answered at once.
STREAM_FOLLOWER = "app/vbm-stream-follower"
STREAM_HOLD_SECONDS = 0.8
STREAM_READ = "DynamoDBStreams_20120810.GetRecords"
# The DynamoDB writes that add stream records, and so wake a held stream read of their table.
TABLE_WRITES = {
    "DynamoDB_20120810.PutItem",
    "DynamoDB_20120810.UpdateItem",
    "DynamoDB_20120810.DeleteItem",
    "DynamoDB_20120810.TransactWriteItems",
    "DynamoDB_20120810.BatchWriteItem",
}


def tables_written(body: bytes) -> set[str]:
    """The tables a DynamoDB write names (``TableName``, a transaction's items, a batch's keys)."""
    try:
        request = json.loads(body)
    except ValueError:
        return set()
    if not isinstance(request, dict):
        return set()
    names = {request.get("TableName")}
    for entry in request.get("TransactItems") or []:
        for op in entry.values() if isinstance(entry, dict) else []:
            names.add(op.get("TableName") if isinstance(op, dict) else None)
    if isinstance(request.get("RequestItems"), dict):
        names.update(request["RequestItems"])
    return {f"table:{name}" for name in names if isinstance(name, str)}


def stream_table(iterator: str) -> str:
    """The table of a moto shard iterator (``arn:...:table/NAME/stream/LABEL|1|id``)."""
    resource = iterator.split(":", 5)[-1]
    parts = resource.split("/")
    return f"table:{parts[1]}" if len(parts) > 1 and parts[0] == "table" else ANY_QUEUE


def might_be_sqs(environ: dict[str, Any]) -> bool:
    """A POST with a known length that could be an SQS request (JSON or query protocol): its
    body is read first, to tell a long poll and the queue a change is to."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and (environ.get("CONTENT_LENGTH") or "0").isdigit()
        and int(environ.get("CONTENT_LENGTH") or 0) > 0
        and (
            environ.get("HTTP_X_AMZ_TARGET", "").startswith("AmazonSQS.")
            or environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        )
    )


def sqs_action(environ: dict[str, Any], body: bytes) -> str | None:
    """The SQS action of a request (JSON protocol: its target; query: a form body read here)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS."):
        return target.removeprefix("AmazonSQS.")
    if body:
        return dict(parse_qsl(body.decode("utf-8", "replace"))).get("Action")
    return None


def long_poll(environ: dict[str, Any], body: bytes) -> tuple[float, bytes] | None:
    """For an SQS ``ReceiveMessage`` with ``WaitTimeSeconds`` > 0: the wait and the same request
    with ``WaitTimeSeconds`` 0 (JSON or query protocol); ``None`` for anything else."""
    if environ.get("HTTP_X_AMZ_TARGET") == "AmazonSQS.ReceiveMessage":
        try:
            request = json.loads(body)
            wait = float(request.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError, AttributeError):
            return None
        if wait <= 0:
            return None
        request["WaitTimeSeconds"] = 0
        return wait, json.dumps(request).encode()
    if b"Action=ReceiveMessage" in body and b"WaitTimeSeconds=" in body:
        fields = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        try:
            wait = float(dict(fields).get("WaitTimeSeconds") or 0)
        except ValueError:
            return None
        if wait <= 0:
            return None
        fields = [(k, "0" if k == "WaitTimeSeconds" else v) for k, v in fields]
        return wait, urlencode(fields).encode()
    return None


def queue_of(environ: dict[str, Any], body: bytes) -> str:
    """The path of the ``QueueUrl`` an SQS request names (``/{account}/{name}``: the same for
    every host form of the URL), or ``ANY_QUEUE``."""
    url: Any = None
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("AmazonSQS."):
        try:
            url = json.loads(body).get("QueueUrl")
        except (ValueError, TypeError, AttributeError):
            url = None
    elif body:
        url = dict(parse_qsl(body.decode("utf-8", "replace"))).get("QueueUrl")
    if not isinstance(url, str):
        return ANY_QUEUE
    path = urlparse(url).path.rstrip("/")
    return path if path.count("/") == 2 else ANY_QUEUE


def seconds_until_receivable(queue: str) -> float | None:
    """How long until a message of the queue stops being invisible or delayed (moto's own
    message times), ``None`` when none is waiting for that; call under the lock. Raises when
    moto's internals are not as expected (the caller then polls every ``REPOLL_SECONDS``)."""
    from moto.sqs.models import sqs_backends

    _, account, name = queue.split("/")
    now_ms = time.time() * 1000
    soonest: float | None = None
    for backend in list(sqs_backends[account].values()):
        found = backend.queues.get(name)
        if found is None:
            continue
        for message in list(found._messages):
            for at in (message.visible_at, message.delayed_until):
                if at > now_ms and (soonest is None or at < soonest):
                    soonest = at
    return None if soonest is None else (soonest - now_ms) / 1000


def has_records(body: bytes) -> bool:
    """Whether a ``GetRecords`` answer holds records (or is not one: then it is answered)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return True
    return not isinstance(answer, dict) or bool(answer.get("Records"))


def has_messages(body: bytes) -> bool:
    """Whether a ``ReceiveMessage`` answer (JSON or XML) holds any message."""
    try:
        return bool(json.loads(body).get("Messages"))
    except (ValueError, AttributeError):
        return b"<Message>" in body


def operation(environ: dict[str, Any]) -> str:
    """A request's operation for ``--stats``: its JSON target, its query ``Action``, or its REST
    method and first path segment (EventBridge Scheduler, S3)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target)
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        raw = environ["wsgi.input"].getvalue() if isinstance(environ["wsgi.input"], io.BytesIO) else b""
        action = dict(parse_qsl(raw.decode("utf-8", "replace"))).get("Action")
        if action:
            return action
    segment = (environ.get("PATH_INFO") or "/").strip("/").split("/")[0]
    return f"{environ.get('REQUEST_METHOD')} /{segment}"


class SerializedApp:
    """WSGI middleware: one request at a time, response fully consumed under the lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        # Per queue (``queue_of``), bumped after each request that can make one of its messages
        # receivable; waiting polls watch their queue's and ``ANY_QUEUE``'s.
        self.changes = threading.Condition()
        self.generations: dict[str, int] = {}
        # With ``--stats``: per operation, how many requests and the seconds spent under the lock.
        self.stats: dict[str, list[float]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raw = b""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if might_be_sqs(environ) or target == STREAM_READ or target in TABLE_WRITES:
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
        if target == STREAM_READ:
            return self.read_stream(environ, start_response, raw)
        if raw and might_be_sqs(environ):
            polling = long_poll(environ, raw)
            if polling is not None:
                return self.poll(environ, start_response, *polling)
        body = self.serialized(environ, start_response)
        action = sqs_action(environ, raw)
        if action in SQS_CHANGES:
            queue = queue_of(environ, raw)
            if action not in DELETES or queue == ANY_QUEUE or queue.endswith(".fifo"):
                self.changed({queue})
        elif target in TABLE_WRITES:
            self.changed(tables_written(raw))
        return body

    def changed(self, keys: set[str]) -> None:
        """Wakes the waiting reads of each of ``keys`` (a queue, a table)."""
        with self.changes:
            for key in keys:
                self.generations[key] = self.generations.get(key, 0) + 1
            self.changes.notify_all()

    def read_stream(
        self, environ: dict[str, Any], start_response: Callable[..., Any], raw: bytes
    ) -> list[bytes]:
        """A ``GetRecords``; when a reader following the stream finds nothing, it is repeated
        once the table is written, or answered empty after ``STREAM_HOLD_SECONDS``."""
        try:
            iterator = json.loads(raw).get("ShardIterator")
        except (ValueError, AttributeError):
            iterator = None
        followed = STREAM_FOLLOWER in environ.get("HTTP_USER_AGENT", "") + environ.get(
            "HTTP_X_AMZ_USER_AGENT", ""
        )
        table = stream_table(iterator) if isinstance(iterator, str) else ANY_QUEUE
        wait = STREAM_HOLD_SECONDS if followed else 0.0
        return self.repeat(
            environ, start_response, raw, table, wait, has_records, lambda: float("inf")
        )

    def generation(self, queue: str) -> tuple[int, int]:
        """What a poll of ``queue`` watches; call holding ``self.changes``."""
        return self.generations.get(queue, 0), self.generations.get(ANY_QUEUE, 0)

    def serialized(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        with self.lock:
            started = time.perf_counter()
            result = self.app(environ, start_response)
            try:
                body = list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if self.stats is not None:
                entry = self.stats.setdefault(operation(environ), [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - started
        return body

    def write_stats(self, path: str) -> None:
        """The ``--stats`` table: operation, requests, seconds under the lock; busiest first."""
        rows = sorted((self.stats or {}).items(), key=lambda kv: -kv[1][1])
        with open(path, "w", encoding="utf-8") as out:
            for name, (count, seconds) in rows:
                out.write(f"{name}\t{int(count)}\t{seconds:.3f}\n")

    def poll(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        wait: float,
        short_poll: bytes,
    ) -> list[bytes]:
        """One long poll as short polls, the lock released between them."""
        queue = queue_of(environ, short_poll)
        return self.repeat(
            environ,
            start_response,
            short_poll,
            queue,
            wait,
            has_messages,
            lambda: self.next_receivable(queue),
        )

    def repeat(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request: bytes,
        key: str,
        wait: float,
        found: Callable[[bytes], bool],
        pause: Callable[[], float],
    ) -> list[bytes]:
        """Makes ``request`` under the lock until its answer ``found`` something or failed, or
        ``wait`` seconds passed; between two tries it sleeps, the lock released, until a change
        of ``key`` (a queue, a table) or for ``pause()`` seconds at most."""
        deadline = time.monotonic() + wait
        last = False
        while True:
            with self.changes:
                generation = self.generation(key)
            answer: list[Any] = []
            environ["wsgi.input"] = io.BytesIO(request)
            environ["CONTENT_LENGTH"] = str(len(request))
            body = self.serialized(
                environ, lambda status, headers, *exc: answer.append((status, headers))
            )
            status, headers = answer[-1]
            done = not status.startswith("200") or found(b"".join(body))
            left = deadline - time.monotonic()
            if done or last or left <= 0:
                start_response(status, headers)
                return body
            sleep = min(left, pause())
            with self.changes:
                woken = self.changes.wait_for(
                    lambda: self.generation(key) != generation, timeout=sleep
                )
            # Slept to the end of the wait: one last try (a timed wait may end a hair early).
            last = not woken and sleep >= left

    def next_receivable(self, queue: str) -> float:
        """How long a waiting poll of ``queue`` may sleep with no request to wake it."""
        if queue == ANY_QUEUE:
            return REPOLL_SECONDS
        try:
            with self.lock:
                seconds = seconds_until_receivable(queue)
        except Exception:  # moto's internals moved: poll as often as before
            return REPOLL_SECONDS
        # A little past the time, so moto sees the message as receivable.
        return float("inf") if seconds is None else seconds + 0.01


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (keeps underscore headers) without per-request log lines."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # noqa: D102
        pass


def backup_only_touched_items() -> None:
    """Make moto's ``TransactWriteItems`` back up only the items it touches, and roll back the
    stream records of a cancelled transaction.

    moto deep-copies every table a transaction names (once per item) so it can roll back a
    cancelled transaction; each write then costs time and memory in proportion to the table, and
    a long run slows to a crawl (10 GB of emulator memory in a 10-minute soak). Tables are passed
    by reference instead, and the wrapper below saves each touched item before the transaction
    and puts them back if it is cancelled, which is all a rollback has to undo.
    """
    import copy

    from moto.dynamodb import models as ddb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesByReference:
        """``copy`` as moto's DynamoDB backend module sees it: tables are not copied."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    ddb_models.copy = TablesByReference()  # type: ignore[assignment]
    original = ddb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        # moto writes the stream record of each item as it goes; a cancelled transaction must
        # leave none (DynamoDB streams only what committed), or a stream consumer would act on
        # a message that was never accepted.
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue  # moto refuses it before writing anything
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
            item = table.get_item(hash_value, range_value)
            saved.append((table, hash_value, range_value, copy.deepcopy(item)))
            shard = table.stream_shard
            if shard is not None and id(shard) not in streams:
                streams[id(shard)] = (shard, len(shard.items))
        try:
            return original(self, transact_items)
        except Exception:
            for shard, length in streams.values():
                del shard.items[length:]
            # Newest first, so an item named twice ends as it was before the first.
            for table, hash_value, range_value, item in reversed(saved):
                if range_value is None:
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                elif item is None:
                    table.items[hash_value].pop(range_value, None)
                else:
                    table.items[hash_value][range_value] = item
            raise

    ddb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def lighter_sqs_receives() -> None:
    """Make a receive check a message's retention from the queue's retention period alone.

    moto checks every candidate message of a ``ReceiveMessage`` against the retention period by
    building all the queue's attributes three times, each counting every message of the queue
    (visible, in flight, delayed), so a receive costs the square of the queue's length: in the
    end-to-end tests it was a sixth of the emulator's time.
    """
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = float(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def lighter_update_validation() -> None:
    """Copy an update expression's syntax tree node by node instead of with ``copy.deepcopy``.

    moto validates an ``UpdateExpression`` on a deep copy of its freshly parsed tree (twice for
    an item the update creates); the generic deep copy was over a third of each ``UpdateItem``.
    A tree's nodes hold only their type name, parent and children; the copy rebuilds exactly
    those, and anything else (a typed value ``list_append`` copies) still goes through
    ``copy.deepcopy``.
    """
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import Node

    scalars = (str, int, float, bool, type(None))

    def copy_node(node: Any, parent: Any) -> Any:
        duplicate = object.__new__(type(node))
        duplicate.__dict__ = dict(node.__dict__)
        duplicate.parent = parent
        if isinstance(node.children, list):
            duplicate.children = [
                copy_node(child, duplicate)
                if isinstance(child, Node)
                else child
                if isinstance(child, scalars)
                else copy.deepcopy(child)
                for child in node.children
            ]
        return duplicate

    def plain(node: Any) -> bool:
        """Whether every node of the tree holds only its type name, parent and children."""
        return set(node.__dict__) == {"type", "children", "parent"} and all(
            plain(child) for child in node.children or [] if isinstance(child, Node)
        )

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Node) and value.parent is None and plain(value):
            return copy_node(value, None)
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy  # type: ignore[attr-defined]


def lighter_stream_reads() -> None:
    """Answer ``GetRecords`` from each stream record's JSON, encoded once.

    moto's generic response serializer walks every attribute of every record image on every
    read, and a local stack's two stream readers read each record; in the end-to-end tests that
    was a quarter of the emulator's time. A record never changes once written, so its wire form
    (the attribute values are already DynamoDB JSON; the creation time goes as epoch seconds, as
    the JSON protocol sends timestamps) is kept and reused.
    """
    from datetime import timezone

    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    # id of a record's dict -> (the dict, its JSON); holding the dict keeps its id unique.
    wire: dict[int, tuple[dict[str, Any], str]] = {}

    def wire_value(value: Any) -> Any:
        """What moto's serializer makes of the values its records hold besides JSON."""
        if isinstance(value, bytes):  # a binary attribute (B, BS): base64, as DynamoDB sends it
            return base64.b64encode(value).decode("ascii")
        if hasattr(value, "timestamp"):  # the creation time, a naive UTC datetime: epoch seconds
            return int(value.replace(tzinfo=timezone.utc).timestamp())
        raise TypeError(f"cannot encode {type(value).__name__} in a stream record")

    def encoded(record: dict[str, Any]) -> str:
        known = wire.get(id(record))
        if known is not None and known[0] is record:
            return known[1]
        text = json.dumps(record, separators=(",", ":"), default=wire_value)
        wire[id(record)] = (record, text)
        return text

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        result = self.backend.get_records(
            self._get_param("ShardIterator"), 1000 if limit is None else limit
        )
        records = ",".join(encoded(record) for record in result["Records"])
        following = json.dumps(result["NextShardIterator"])
        return f'{{"NextShardIterator":{following},"Records":[{records}]}}'

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (default 5000)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument(
        "--stats", metavar="FILE", help="at exit, write requests and lock time per operation"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)

    # Exit cleanly (status 0) on SIGTERM, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    backup_only_touched_items()
    lighter_sqs_receives()
    lighter_stream_reads()
    lighter_update_validation()
    moto_app = DomainDispatcherApplication(create_backend_app)
    app = SerializedApp(moto_app)
    if args.stats:
        app.stats = {}
    print(f"serial-moto: serving on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    try:
        run_simple(
            args.host,
            args.port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=MotoRequestHandler if args.verbose else QuietRequestHandler,
        )
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if args.stats:
            app.write_stats(args.stats)


if __name__ == "__main__":
    main()
