#!/usr/bin/env python3
"""A stand-in for an MQTT 3.1.1-only broker, for the v5 -> 3.1.1 fallback test.

Listens on 127.0.0.1:<listen-port>. A CONNECT with protocol level 5 gets the answer an old broker gives,
a v3 CONNACK "unacceptable protocol version" (20 02 00 01), and the connection is closed. Any other CONNECT is
forwarded, byte for byte, to the real mosquitto on 127.0.0.1:<upstream-port>.
Usage: mqtt311-only-proxy.py <listen-port> <upstream-port>   (prints "ready" when listening)
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
    return header + raw + body, body


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer, upstream_port):
    try:
        packet, body = await read_packet(client_reader)
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
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
    except (ConnectionError, asyncio.IncompleteReadError):
        client_writer.close()


async def main():
    listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    server = await asyncio.start_server(lambda r, w: handle(r, w, upstream_port), "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# A child started from a thread that blocks signals inherits the mask: without this, SIGTERM is held and the harness
# waits ten seconds for its SIGKILL at the end of every test that uses the proxy.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
asyncio.run(main())
