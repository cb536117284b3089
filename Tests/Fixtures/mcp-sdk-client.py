#!/usr/bin/env python3
"""`mqtt-home mcp` driven by the official MCP Python SDK (`mcp` on PyPI), as an agent host would.

Usage: mcp-sdk-client.py <mqtt-home binary> <broker port> <scenario>
Prints one JSON object with what the scenario observed; the Swift test asserts on it.
"""
import json
import sys
import time

import anyio
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

cli, port, scenario = sys.argv[1], sys.argv[2], sys.argv[3]


def server(*extra):
    return StdioServerParameters(command=cli, args=["mcp", "--host", "127.0.0.1", "--port", port, *extra])


def text(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def sessions(mode):
    """Ten sessions in a row, each listing tools and reading a sensor."""
    seen = []
    for _ in range(10):
        started = time.monotonic()
        async with Client(server(), mode=mode) as client:
            tools = await client.list_tools()
            read = await client.call_tool("read_sensor", {"device": "kitchen_sensor", "sensor": "temperature"})
            seen.append({
                "version": client.protocol_version,
                "tools": len(tools.tools),
                "value": (read.structured_content or {}).get("value"),
                "is_error": read.is_error,
                "seconds": round(time.monotonic() - started, 3),
            })
    return {"sessions": seen}


async def every_tool(mode):
    """Every tool once; structured results are validated against outputSchema by the SDK itself."""
    calls = {
        "list_devices": {},
        "get_device": {"device": "kitchen_sensor"},
        "read_sensor": {"device": "kitchen_sensor", "sensor": "humidity"},
        "sensor_history": {"device": "kitchen_sensor", "sensor": "temperature"},
        "set_device": {"device": "hall_light", "state": "ON"},
        "control_device": {"device_uuid": "hall_light", "port_type": "light", "port_id": 1, "action": "off"},
        "list_areas": {},
        "sensor_statistics": {"sensors": [{"device": "kitchen_sensor", "sensor": "temperature"}], "since": "-1h"},
        "set_area": {"area": "hall", "type": "light", "state": "ON"},
        "broker_status": {},
    }
    out = {}
    async with Client(server(), mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for name, arguments in calls.items():
            result = await client.call_tool(name, arguments)
            tool = tools[name]
            out[name] = {
                "is_error": result.is_error,
                "structured": result.structured_content,
                "has_output_schema": tool.output_schema is not None,
                "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None,
                "title": tool.title,
                "text": text(result)[:300],
            }
        out["_version"] = client.protocol_version
    return out


async def ping_during_set():
    """A ping while set_device waits for a confirmation that never comes (legacy: ping is gone in 2026-07-28)."""
    async with Client(server(), mode="legacy") as client:
        timings = {}

        async def slow():
            started = time.monotonic()
            result = await client.call_tool("set_device", {"device": "silent_plug", "state": "ON", "confirm_timeout_ms": 3000})
            timings["set_seconds"] = round(time.monotonic() - started, 3)
            timings["set_status"] = (result.structured_content or {}).get("status")

        async with anyio.create_task_group() as group:
            group.start_soon(slow)
            await anyio.sleep(0.5)
            started = time.monotonic()
            await client.send_ping()
            timings["ping_seconds"] = round(time.monotonic() - started, 3)
            started = time.monotonic()
            await client.list_tools()
            timings["list_seconds"] = round(time.monotonic() - started, 3)
        return timings


async def cancel(mode):
    """Cancel a waiting set_device; the next call is answered at once."""
    async with Client(server(), mode=mode) as client:
        out = {}
        with anyio.move_on_after(0.5) as scope:
            await client.call_tool("set_device", {"device": "silent_plug", "state": "ON", "confirm_timeout_ms": 20000})
        out["cancelled"] = scope.cancelled_caught
        started = time.monotonic()
        read = await client.call_tool("read_sensor", {"device": "kitchen_sensor", "sensor": "temperature"})
        out["next_seconds"] = round(time.monotonic() - started, 3)
        out["next_value"] = (read.structured_content or {}).get("value")
        return out


async def read_only():
    async with Client(server("--read-only"), mode="legacy") as client:
        names = sorted(tool.name for tool in (await client.list_tools()).tools)
        try:
            await client.call_tool("set_device", {"device": "hall_light", "state": "ON"})
            refused = None
        except MCPError as error:
            refused = {"code": error.error.code, "message": error.error.message}
        return {"tools": names, "set_refused": refused}


async def main():
    if scenario == "sessions-auto":
        return await sessions("auto")
    if scenario == "sessions-legacy":
        return await sessions("legacy")
    if scenario == "tools-auto":
        return await every_tool("auto")
    if scenario == "tools-legacy":
        return await every_tool("legacy")
    if scenario == "ping":
        return await ping_during_set()
    if scenario == "cancel-auto":
        return await cancel("auto")
    if scenario == "cancel-legacy":
        return await cancel("legacy")
    if scenario == "read-only":
        return await read_only()
    raise SystemExit(f"unknown scenario {scenario}")


print(json.dumps(anyio.run(main), default=str))
