#!/usr/bin/env python3
"""AWS set-up and read-back for the publishing tests, against the stack's moto (AWS_* env).

    aws_helper.py sns-queue NAME        → {"topic": ARN, "queue": URL, "envelopeQueue": URL}
                                          (the raw queue gets the machine message; the other
                                          the SNS envelope with Subject)
    aws_helper.py receive QUEUE_URL     → the messages, with their attributes, as JSON
    aws_helper.py secret NAME VALUE     → {"arn": ARN}
    aws_helper.py table NAME            → {"table": NAME}: the delivery ledger's table, as the
                                          template makes it (key pk, TTL on expires)
    aws_helper.py items TABLE           → the table's items, as {pk: state}
    aws_helper.py calls APP             → AWS calls made by SDK app id APP, per service
    aws_helper.py trail-deny RESOURCE   → CloudTrail's LookupEvents on RESOURCE answers AccessDenied
"""
import json
import os
import sys
import urllib.request

import boto3

REGION = "us-east-1"


def main():
    cmd = sys.argv[1]
    if cmd == "sns-queue":
        name = sys.argv[2]
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name=name)["TopicArn"]
        out = {"topic": topic}
        for key, raw in (("queue", "true"), ("envelopeQueue", "false")):
            url = sqs.create_queue(QueueName=f"{name}-{key}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": raw})
            out[key] = url
        print(json.dumps(out))
    elif cmd == "receive":
        sqs = boto3.client("sqs", region_name=REGION)
        msgs = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1).get("Messages", [])
        print(json.dumps([{"body": m["Body"], "attributes": {k: v.get("StringValue") for k, v in m.get("MessageAttributes", {}).items()}} for m in msgs]))
    elif cmd == "count":
        # Drains a queue, counting its messages (received in tens and deleted, so none is counted twice).
        sqs = boto3.client("sqs", region_name=REGION)
        n = 0
        while True:
            msgs = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not msgs:
                break
            n += len(msgs)
            sqs.delete_message_batch(QueueUrl=sys.argv[2], Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        print(json.dumps({"count": n}))
    elif cmd == "secret":
        sm = boto3.client("secretsmanager", region_name=REGION)
        print(json.dumps({"arn": sm.create_secret(Name=sys.argv[2], SecretString=sys.argv[3])["ARN"]}))
    elif cmd == "table":
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(TableName=sys.argv[2], BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.update_time_to_live(TableName=sys.argv[2], TimeToLiveSpecification={"AttributeName": "expires", "Enabled": True})
        print(json.dumps({"table": sys.argv[2]}))
    elif cmd == "trail-deny":
        # CloudTrail answers AccessDenied for lookups of this resource (moto_server.py).
        url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/_stack/cloudtrail"
        urllib.request.urlopen(urllib.request.Request(url, data=json.dumps([{"DenyResource": sys.argv[2]}]).encode(), method="POST")).read()
        print(json.dumps({"denied": sys.argv[2]}))
    elif cmd == "calls":
        url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/_stack/calls?app=" + sys.argv[2]
        print(urllib.request.urlopen(url, timeout=10).read().decode())
    elif cmd == "items":
        ddb = boto3.client("dynamodb", region_name=REGION)
        items = ddb.scan(TableName=sys.argv[2])["Items"]
        print(json.dumps({i["pk"]["S"]: i["state"]["S"] for i in items}))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
