#!/usr/bin/env python3
"""A third-party RPC caller: paho-mqtt (PyPI), as a script author would write it against topics.md.

Usage: paho-rpc.py <port> <username> <password> <protocol 5|311> <method> <params-json> <reply-topic> [timeout-s]
Publishes one request (MQTT 5: Response Topic + Correlation Data; 3.1.1: reply_to in the body), subscribes to the
reply topic first, and prints one JSON line: {"answered": bool, "reply": …, "correlation_ok": bool}.
"""
import json
import sys
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port, username, password, protocol, method, params, reply_topic = sys.argv[1:8]
timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 5.0
v5 = protocol == "5"
client_id = f"paho-{uuid.uuid4().hex[:8]}"
# The ACL gives each client only mqtt-home/reply/<its client id>/#: "{client}" in the reply topic stands for it.
reply_topic = reply_topic.replace("{client}", client_id)
client = mqtt.Client(
    mqtt.CallbackAPIVersion.VERSION2,
    client_id=client_id,
    protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
)
client.username_pw_set(username, password)
correlation = uuid.uuid4().bytes
subscribed = threading.Event()
done = threading.Event()
result = {"answered": False, "reply": None, "correlation_ok": None}


def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(reply_topic, qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    subscribed.set()


def on_message(client, userdata, message):
    if message.retain:  # what was there before the request (e.g. a retained status), not an answer
        return
    result["answered"] = True
    result["reply"] = json.loads(message.payload)
    if v5:
        received = getattr(message.properties, "CorrelationData", None)
        result["correlation_ok"] = received == correlation
    done.set()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("127.0.0.1", int(port))
client.loop_start()
if not subscribed.wait(5):
    print(json.dumps({"error": "not subscribed"}))
    sys.exit(3)
body = json.loads(params)
if v5:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = reply_topic
    properties.CorrelationData = correlation
    client.publish(f"mqtt-home/rpc/{method}", json.dumps(body), qos=1, properties=properties).wait_for_publish(5)
else:
    body = {"jsonrpc": "2.0", "id": "paho-311", "params": body, "reply_to": reply_topic}
    client.publish(f"mqtt-home/rpc/{method}", json.dumps(body), qos=1).wait_for_publish(5)
done.wait(timeout)
client.loop_stop()
client.disconnect()
print(json.dumps(result))
