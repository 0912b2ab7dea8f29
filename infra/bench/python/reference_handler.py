"""The reference a cloud team would write instead: a Python custom-runtime handler.

It does at init what each Rust function does (import boto3, build a DynamoDB and an SQS client,
read its configuration), then polls the Runtime API with urllib. For its one event it makes the
calls `send`'s first event makes in a cold container (the first message to a new number): four
strongly consistent reads (the API key, the business's profile, its suppression key, the
conversation) and one transaction of three items (the message, the conversation, the guard);
the table's stream carries the job to the queue, as for send. It reads and writes items of its
own (`BENCH#python`), with the same shapes, not the business's: the emulator's work is the same.
bench-init spawns it as it spawns the Rust binaries and measures it the same way.
"""

import json
import os
import time
import urllib.request

import boto3

TABLE = os.environ["VBM_TABLE"]
QUEUE_URL = os.environ["OUTBOUND_QUEUE_URL"]
RUNTIME = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"

dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")


def handle(event):
    body = json.loads(event["body"])
    message_id = "py" + str(time.time_ns())
    pk = {"S": "BENCH#python"}
    for sk in ("KEY", "PROFILE", "SUPPRESSION", "CONV#" + body["to"]):
        dynamodb.get_item(TableName=TABLE, Key={"pk": pk, "sk": {"S": sk}}, ConsistentRead=True)
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {
                        "pk": pk,
                        "sk": {"S": "BENCHMSG#" + message_id},
                        "to": {"S": body["to"]},
                        "status": {"S": "accepted"},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": pk, "sk": {"S": "CONV#" + body["to"]}},
                    "UpdateExpression": "SET last_message = :m, version = if_not_exists(version, :zero) + :one",
                    "ExpressionAttributeValues": {
                        ":m": {"S": message_id},
                        ":zero": {"N": "0"},
                        ":one": {"N": "1"},
                    },
                }
            },
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": {"pk": pk, "sk": {"S": "SUPPRESSION"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    return {
        "statusCode": 202,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message_id": message_id, "status": "accepted"}),
    }


def main():
    with urllib.request.urlopen(RUNTIME + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = json.dumps(handle(event)).encode()
    post = urllib.request.Request(RUNTIME + request_id + "/response", data=answer, method="POST")
    urllib.request.urlopen(post).read()


if __name__ == "__main__":
    main()
