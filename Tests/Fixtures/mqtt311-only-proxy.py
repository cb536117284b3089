#!/usr/bin/env python3
"""A stand-in for an MQTT 3.1.1-only broker, for the v5 -> 3.1.1 fallback test.

Listens on 127.0.0.1:<listen-port>. A CONNECT with protocol level 5 gets the answer an old broker gives,
a v3 CONNACK "unacceptable protocol version" (20 02 00 01), and the connection is closed. Any other CONNECT is
forwarded, byte for byte, to the real mosquitto on 127.0.0.1:<upstream-port>.
Usage: mqtt311-only-proxy.py <listen-port> <upstream-port>   (0: any free port; prints "ready <port>" when listening)
"""
import asyncio
import sys

from mqtt_packets import read_packet, relay, serve


async def handle(client_reader, client_writer, upstream_port):
    try:
        packet, _, body = await read_packet(client_reader)
        name_length = int.from_bytes(body[0:2], "big")
        level = body[2 + name_length]
        if level == 5:
            client_writer.write(bytes([0x20, 0x02, 0x00, 0x01]))
            await client_writer.drain()
            client_writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        upstream_writer.write(packet)
        await upstream_writer.drain()
        await asyncio.gather(relay(client_reader, upstream_writer), relay(upstream_reader, client_writer))
    except (ConnectionError, asyncio.IncompleteReadError):
        client_writer.close()


listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
serve(lambda r, w: handle(r, w, upstream_port), listen_port)
