"""The reference a cloud team would write instead: a Python custom-runtime handler.

It does at init what each Rust function does (import boto3, build a DynamoDB and an SQS client,
read its configuration), then polls the Runtime API with urllib. For its one event it does the
write and the SendMessage a send does, and posts the response. bench-init spawns it as it spawns
the Rust binaries and measures it the same way.
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
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "BENCH#python"},
            "sk": {"S": "MSG#" + message_id},
            "to": {"S": body["to"]},
            "status": {"S": "accepted"},
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    sqs.send_message(
        QueueUrl=QUEUE_URL,
        MessageBody=json.dumps({"message_id": message_id, "to": body["to"]}),
        MessageGroupId="bench-python",
        MessageDeduplicationId=message_id,
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
