#!/usr/bin/env python3
"""A broker that never acknowledges one topic's QoS 1 publishes, as mosquitto 2.0.11 sometimes failed to.

Listens on 127.0.0.1:<listen-port> and forwards every connection, packet by packet, to the real mosquitto on
127.0.0.1:<upstream-port>. A QoS 1 PUBLISH from the client on <topic> is forwarded (the broker stores it); the
broker's PUBACK for it is dropped. Everything else passes unchanged.
Usage: mqtt-lost-puback-proxy.py <listen-port> <upstream-port> <topic>   (0: any free port; prints "ready <port>" when listening)
"""
import asyncio
import sys

from mqtt_packets import relay, serve


async def handle(client_reader, client_writer, upstream_port, topic):
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except ConnectionError:
        client_writer.close()
        return
    swallowed = set()

    def note_publish(first, body):
        if first >> 4 == 3 and (first >> 1) & 0x03 == 1:
            length = int.from_bytes(body[0:2], "big")
            if body[2:2 + length] == topic:
                swallowed.add(body[2 + length:4 + length])
        return True

    def drop_its_puback(first, body):
        if first >> 4 == 4 and body[0:2] in swallowed:
            swallowed.discard(body[0:2])
            print("dropped a PUBACK", flush=True)
            return False
        return True

    await asyncio.gather(
        relay(client_reader, upstream_writer, note_publish),
        relay(upstream_reader, client_writer, drop_its_puback),
    )


listen_port, upstream_port, topic = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
serve(lambda r, w: handle(r, w, upstream_port, topic), listen_port)
