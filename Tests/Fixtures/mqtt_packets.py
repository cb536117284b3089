"""MQTT packet framing for the test proxies (mqtt311-only-proxy.py, mqtt-lost-puback-proxy.py)."""
import asyncio
import signal


async def read_packet(reader):
    """One whole packet: (its bytes, the first byte, the body after the remaining length)."""
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


async def relay(reader, writer, keep=lambda first, body: True):
    """Forwards packet by packet until either side closes; `keep(first_byte, body)` false drops a packet."""
    try:
        while True:
            packet, first, body = await read_packet(reader)
            if keep(first, body):
                writer.write(packet)
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def serve(handle, listen_port):
    """Listens on 127.0.0.1:listen_port (0: a port the kernel picks, nobody can take it first), prints "ready <port>",
    serves until killed."""
    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        print("ready %d" % server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    # A child started from a thread that blocks signals inherits the mask: without this, SIGTERM is held and the
    # harness waits ten seconds for its SIGKILL at the end of every test that uses a proxy.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    asyncio.run(main())
