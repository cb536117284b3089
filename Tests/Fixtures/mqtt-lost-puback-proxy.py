#!/usr/bin/env python3
"""A broker that never acknowledges one topic's QoS 1 publishes, as mosquitto 2.0.11 sometimes failed to.

Listens on 127.0.0.1:<listen-port> and forwards every connection, packet by packet, to the real mosquitto on
127.0.0.1:<upstream-port>. A QoS 1 PUBLISH from the client on <topic> is forwarded (the broker stores it); the
broker's PUBACK for it is dropped. Everything else passes unchanged.
Usage: mqtt-lost-puback-proxy.py <listen-port> <upstream-port> <topic>   (prints "ready" when listening)
"""
import asyncio
import signal
import sys


async def read_packet(reader):
    header = await reader.readexactly(1)
    length, multiplier, raw = 0, 1, b""
    while True:
        byte = await reader.readexactly(1)
        raw += byte
        length += (byte[0] & 0x7F) * multiplier
        multiplier *= 128
        if byte[0] & 0x80 == 0:
            break
    body = await reader.readexactly(length)
    return header + raw + body, header[0], body


async def client_to_broker(reader, writer, topic, swallowed):
    try:
        while True:
            packet, first, body = await read_packet(reader)
            if first >> 4 == 3 and (first >> 1) & 0x03 == 1:
                length = int.from_bytes(body[0:2], "big")
                if body[2:2 + length] == topic:
                    swallowed.add(body[2 + length:4 + length])
            writer.write(packet)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def broker_to_client(reader, writer, swallowed):
    try:
        while True:
            packet, first, body = await read_packet(reader)
            if first >> 4 == 4 and body[0:2] in swallowed:
                swallowed.discard(body[0:2])
                print("dropped a PUBACK", flush=True)
                continue
            writer.write(packet)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer, upstream_port, topic):
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except ConnectionError:
        client_writer.close()
        return
    swallowed = set()
    await asyncio.gather(
        client_to_broker(client_reader, upstream_writer, topic, swallowed),
        broker_to_client(upstream_reader, client_writer, swallowed),
    )


async def main():
    listen_port, upstream_port, topic = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
    server = await asyncio.start_server(lambda r, w: handle(r, w, upstream_port, topic), "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# As in mqtt311-only-proxy.py: a child inherits a blocked SIGTERM from the thread that started it.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
asyncio.run(main())
