#!/usr/bin/env python3
"""Listens on 127.0.0.1:<port> as another local process might; prints "listening <port>", then one line per client
that connects ("connection"), and never answers. Usage: port-thief.py <port>"""
import signal
import socket
import sys

# Started from a thread that blocks signals, it would inherit the mask and ignore the test's SIGTERM.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
port = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(16)
print("listening %d" % port, flush=True)
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
    print("connection", flush=True)
