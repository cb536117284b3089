#!/usr/bin/env python3
"""A stand-in for the EMQX 5 dashboard REST API, for tests and benchmarks (EMQX itself cannot run here).

It reproduces the responses documented in ../shared/reference/protocols.md section 4 (verified against EMQX v5.8.9):
`/api/v5/status` (text or `format=json`, no auth, 503 + `retry-after` when down), `/stats` and `/metrics` (dotted
keys, an array per node or one object with `aggregate=true`), `/nodes` (a stopped cluster member included),
`/clients` paged with `meta {page, limit, hasnext, count?}` (`count` left out when a `like_*` filter is used, as EMQX
does when it must scan), `limit` above 10000 refused with 400 `INVALID_PARAMETER`, `fields=a,b` trimming each client, `/clients/{clientid}` with 404
`CLIENTID_NOT_FOUND`, `/topics`, `/subscriptions`; errors always `{"code": "UPPER_SNAKE", "message": "..."}`, 401
`BAD_API_KEY_OR_SECRET` with `WWW-Authenticate: Basic Realm="emqx-dashboard"`.

Faults are switched at run time with `GET /__control?...` (no auth):
  api_key=K&api_secret=S   accept these credentials from now on (a rotated key)
  fault=none|401|403|503|garbage|slow   applied to every API path (503 and slow to /status too)
  slow_seconds=N           how long `slow` waits before answering (default 10)
  retry_after=N            the `retry-after` header of 503 answers (default 15)
`GET /__requests` returns how many requests each path received.

Usage: fake-emqx.py [--port 0] [--clients 3] [--api-key key] [--api-secret secret]
Prints `listening <port>` on stdout once it accepts connections.
"""

import argparse
import base64
import json
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE = "emqx@127.0.0.1"
STOPPED_NODE = "emqx@10.0.0.2"
VERSION = "5.8.9"
STARTED = time.time()


class State:
    def __init__(self, clients, api_key, api_secret):
        self.lock = threading.Lock()
        self.client_count = clients
        self.api_key = api_key
        self.api_secret = api_secret
        self.fault = "none"
        self.slow_seconds = 10.0
        self.retry_after = 15
        self.requests = {}

    def count(self, path):
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1


def client_object(index):
    """One client as EMQX 5.8 lists it (every key of the reference's example)."""
    connected = index % 10 != 9
    client = {
        "clientid": "client-%05d" % index,
        "username": None if index % 7 == 6 else "user-%d" % (index % 10),
        "ip_address": "192.168.%d.%d" % (index // 250 % 250, index % 250 + 1),
        "port": 40000 + index % 20000,
        "peerport": 40000 + index % 20000,
        "listener": "tcp:default",
        "node": NODE,
        "connected": connected,
        "connected_at": "2024-01-01T12:34:56.789+08:00",
        "created_at": "2024-01-01T12:34:56.789+08:00",
        "keepalive": 60,
        "proto_name": "MQTT",
        "proto_ver": 5 if index % 2 == 0 else 4,
        "clean_start": index % 3 != 0,
        "expiry_interval": 0 if index % 3 != 0 else 7200,
        "is_bridge": False,
        "is_persistent": index % 3 == 0,
        "durable": False,
        "is_expired": False,
        "mountpoint": None,
        "enable_authn": True,
        "subscriptions_cnt": 2,
        "subscriptions_max": "infinity",
        "inflight_cnt": 0,
        "inflight_max": 32,
        "mqueue_len": 0,
        "mqueue_max": 1000,
        "mqueue_dropped": 0,
        "awaiting_rel_cnt": 0,
        "awaiting_rel_max": 100,
        "recv_oct": 1200 + index,
        "recv_cnt": 40,
        "recv_pkt": 40,
        "recv_msg": 20 + index % 50,
        "recv_msg.qos0": 10,
        "recv_msg.qos1": 10,
        "recv_msg.qos2": 0,
        "recv_msg.dropped": 0,
        "send_oct": 3400,
        "send_cnt": 60,
        "send_pkt": 60,
        "send_msg": 30,
        "send_msg.qos0": 30,
        "send_msg.qos1": 0,
        "send_msg.qos2": 0,
        "send_msg.dropped": 0,
        "heap_size": 4185,
        "mailbox_len": 0,
        "reductions": 30212,
    }
    if not connected:
        client["disconnected_at"] = "2024-01-02T08:00:00.000+08:00"
    return client


def subscriptions_of(index):
    clientid = "client-%05d" % index
    return [
        {"node": NODE, "topic": "home/%05d/state" % index, "clientid": clientid, "qos": 1, "nl": 0, "rap": 0,
         "rh": 0, "durable": False},
        {"node": NODE, "topic": "home/+/set", "clientid": clientid, "qos": 0, "nl": 0, "rap": 0, "rh": 0,
         "durable": False},
    ]


def counters():
    """Counters that grow with time, so a poller computes non-zero rates."""
    elapsed = time.time() - STARTED
    return int(elapsed * 50), int(elapsed * 120), int(elapsed * 2)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Cowboy"

    def log_message(self, format, *args):
        pass

    def send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message, headers=()):
        self.send(status, {"code": code, "message": message}, headers=headers)

    def do_GET(self):
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        state.count(path)
        if path == "/__control":
            return self.control(query)
        if path == "/__requests":
            with state.lock:
                return self.send(200, dict(state.requests))
        if not path.startswith("/api/v5/"):
            return self.error(404, "NOT_FOUND", "Request Path Not Found")
        resource = path[len("/api/v5/"):]
        fault = state.fault
        if fault == "slow":
            time.sleep(state.slow_seconds)
        if fault == "503":
            return self.send(503, b"", content_type="text/plain", headers=[("retry-after", str(state.retry_after))])
        if resource == "status":
            return self.status(query)
        problem = self.authorization_problem()
        if problem:
            return self.error(401, problem[0], problem[1],
                              headers=[("WWW-Authenticate", 'Basic Realm="emqx-dashboard"')])
        if fault == "401":
            return self.error(401, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret",
                              headers=[("WWW-Authenticate", 'Basic Realm="emqx-dashboard"')])
        if fault == "403":
            return self.error(403, "UNAUTHORIZED_ROLE", "This API Key don't have permission to access this resource")
        if fault == "garbage":
            return self.send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
        if resource == "stats":
            return self.stats(query)
        if resource == "metrics":
            return self.metrics(query)
        if resource == "nodes":
            return self.nodes()
        if resource == "clients":
            return self.clients(query)
        if resource.startswith("clients/"):
            return self.client(urllib.parse.unquote(resource[len("clients/"):]))
        if resource == "topics":
            return self.topics(query)
        if resource == "subscriptions":
            return self.subscriptions(query)
        return self.error(404, "NOT_FOUND", "Request Path Not Found")

    def control(self, query):
        state = self.server.state
        with state.lock:
            if "api_key" in query:
                state.api_key = query["api_key"][0]
            if "api_secret" in query:
                state.api_secret = query["api_secret"][0]
            if "fault" in query:
                state.fault = query["fault"][0]
            if "slow_seconds" in query:
                state.slow_seconds = float(query["slow_seconds"][0])
            if "retry_after" in query:
                state.retry_after = int(query["retry_after"][0])
            if "clients" in query:
                state.client_count = int(query["clients"][0])
        self.send(200, {"fault": state.fault})

    def authorization_problem(self):
        header = self.headers.get("Authorization")
        if not header or not header.startswith("Basic "):
            return ("AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer ")
        try:
            key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return ("AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer ")
        state = self.server.state
        if key != state.api_key or secret != state.api_secret:
            return ("BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
        return None

    def status(self, query):
        if query.get("format") == ["json"]:
            return self.send(200, {"node_name": NODE, "rel_vsn": "v" + VERSION, "broker_status": "started",
                                   "app_status": "running"})
        return self.send(200, ("Node %s is started\nemqx is running" % NODE).encode(), content_type="text/plain")

    def stats_object(self):
        total = self.server.state.client_count
        live = total - total // 10
        stats = {}
        for name, value in [("connections", total), ("live_connections", live), ("sessions", total),
                            ("channels", total), ("cluster_sessions", total), ("subscriptions", 2 * total),
                            ("subscriptions.shared", 0), ("suboptions", 2 * total), ("subscribers", total),
                            ("topics", total + 1), ("retained", 42), ("delayed", 0),
                            ("durable_subscriptions", 0)]:
            stats[name + ".count"] = value
            stats[name + ".max"] = value
        return stats

    def stats(self, query):
        stats = self.stats_object()
        if query.get("aggregate") == ["true"]:
            return self.send(200, stats)
        return self.send(200, [dict({"node": NODE}, **stats)])

    def metrics(self, query):
        received, sent, dropped = counters()
        metrics = {"bytes.received": received * 40, "bytes.sent": sent * 40, "packets.received": received + 10,
                   "packets.sent": sent + 10, "messages.received": received, "messages.sent": sent,
                   "messages.dropped": dropped, "messages.dropped.no_subscribers": dropped,
                   "messages.publish": received, "messages.qos0.received": received,
                   "client.connected": self.server.state.client_count, "session.created": 3,
                   "authorization.allow": 12, "authorization.deny": 0}
        if query.get("aggregate") == ["true"]:
            return self.send(200, metrics)
        return self.send(200, [dict({"node": NODE}, **metrics)])

    def nodes(self):
        total = self.server.state.client_count
        running = {"node": NODE, "connections": total, "live_connections": total - total // 10,
                   "cluster_sessions": total, "load1": 0.52, "load5": 0.44, "load15": 0.4, "max_fds": 1048576,
                   "memory_total": 8154861568, "memory_used": 172392448, "node_status": "running",
                   "otp_release": "26.2.5-3", "process_available": 2097152, "process_used": 612,
                   "uptime": int((time.time() - STARTED) * 1000) + 3600000, "version": VERSION,
                   "edition": "Opensource", "sys_path": "/opt/emqx", "log_path": "/opt/emqx/log", "role": "core"}
        stopped = {"node": STOPPED_NODE, "node_status": "stopped", "role": "core"}
        return self.send(200, [running, stopped])

    def paging(self, query):
        """(page, limit) or None after answering 400 as EMQX does."""
        try:
            page = int(query.get("page", ["1"])[0])
            limit = int(query.get("limit", ["100"])[0])
        except ValueError:
            self.error(400, "INVALID_PARAMETER", "page_limit_invalid")
            return None
        if page < 1 or limit < 1 or limit > 10000:
            self.error(400, "INVALID_PARAMETER", "page_limit_invalid")
            return None
        return page, limit

    def page_of(self, rows, page, limit, with_count):
        start = (page - 1) * limit
        data = rows[start:start + limit]
        meta = {"page": page, "limit": limit, "hasnext": start + limit < len(rows)}
        if with_count:
            meta["count"] = len(rows)
        return {"data": data, "meta": meta}

    def clients(self, query):
        paging = self.paging(query)
        if paging is None:
            return
        page, limit = paging
        total = self.server.state.client_count
        like = query.get("like_clientid", [None])[0]
        usernames = query.get("username")
        conn_state = query.get("conn_state", [None])[0]
        filtered = like is not None or usernames is not None or conn_state is not None
        fields = query.get("fields", ["all"])[0]
        keep = None if fields == "all" else set(fields.split(","))

        def trimmed(client):
            return client if keep is None else {key: value for key, value in client.items() if key in keep}
        if not filtered:
            start = (page - 1) * limit
            data = [trimmed(client_object(i)) for i in range(start, min(total, start + limit))]
            return self.send(200, {"data": data, "meta": {"page": page, "limit": limit, "hasnext": start + limit < total,
                                                          "count": total}})
        rows = []
        for i in range(total):
            client = client_object(i)
            if like is not None and like not in client["clientid"]:
                continue
            if usernames is not None and client["username"] not in usernames:
                continue
            if conn_state == "connected" and not client["connected"]:
                continue
            if conn_state == "disconnected" and client["connected"]:
                continue
            rows.append(trimmed(client))
        # EMQX leaves `count` out when a fuzzy filter forces a table scan.
        return self.send(200, self.page_of(rows, page, limit, with_count=like is None))

    def client(self, clientid):
        total = self.server.state.client_count
        if clientid.startswith("client-") and clientid[7:].isdigit() and int(clientid[7:]) < total:
            return self.send(200, client_object(int(clientid[7:])))
        return self.error(404, "CLIENTID_NOT_FOUND", "Client ID not found")

    def topics(self, query):
        paging = self.paging(query)
        if paging is None:
            return
        page, limit = paging
        total = self.server.state.client_count
        rows = [{"topic": "home/+/set", "node": NODE}] + [{"topic": "home/%05d/state" % i, "node": NODE}
                                                            for i in range(total)]
        if "topic" in query:
            rows = [row for row in rows if row["topic"] == query["topic"][0]]
        return self.send(200, self.page_of(rows, page, limit, with_count=True))

    def subscriptions(self, query):
        paging = self.paging(query)
        if paging is None:
            return
        page, limit = paging
        total = self.server.state.client_count
        clientid = query.get("clientid", [None])[0]
        topic = query.get("topic", [None])[0]
        rows = []
        for i in range(total):
            if clientid is not None and clientid != "client-%05d" % i:
                continue
            for subscription in subscriptions_of(i):
                if topic is None or subscription["topic"] == topic:
                    rows.append(subscription)
        return self.send(200, self.page_of(rows, page, limit, with_count=True))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--api-key", default="key")
    parser.add_argument("--api-secret", default="secret")
    arguments = parser.parse_args()
    # A child started from a thread that blocks signals inherits the mask: make SIGTERM end it as usual.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
    server.state = State(arguments.clients, arguments.api_key, arguments.api_secret)
    print("listening %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
