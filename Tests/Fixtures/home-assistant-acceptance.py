"""A real Home Assistant (pip `homeassistant`, headless, HTTP on 127.0.0.1 only) against mqtt-homed.

Run by Tests/MQTTHomeBlackBoxTests/HomeAssistantTests.swift with the Python of a venv that has `homeassistant`
and `paho-mqtt`. The broker is the test harness's (MQTT_PORT); this script starts Home Assistant and mqtt-homed
itself, because it stops and restarts the daemon mid-test.

What it checks, each as Home Assistant itself reports it over its REST API:
  1. the broker is set up through HA's own MQTT config flow (no YAML);
  2. manual devices appear with the right states, units and device classes, in their suggested areas;
  3. HA's switch and light services reach the devices' own command topics through <base>/devices/<id>/set;
  4. a device that announces itself (Zigbee2MQTT-style discovery) is not duplicated;
  5. stopping mqtt-homed makes its devices unavailable; starting it again brings them back;
  6. removing a device removes its entities and its device.
Prints one line per check; exits 1 on the first failure, with HA's log tail.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

BROKER_PORT = int(os.environ["MQTT_PORT"])
DAEMON = os.environ["MQTT_HOMED"]
PYTHON = sys.executable
WORK = tempfile.mkdtemp(prefix="mqtt-home-ha-")
CONFIG = os.path.join(WORK, "config")
os.makedirs(CONFIG)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HTTP_PORT = free_port()
BASE = f"http://127.0.0.1:{HTTP_PORT}"
CLIENT_ID = f"{BASE}/"

with open(os.path.join(CONFIG, "configuration.yaml"), "w") as f:
    f.write(
        "homeassistant:\n  name: mqtt-home acceptance\n  unit_system: metric\n  time_zone: UTC\n"
        "  latitude: 52.37\n  longitude: 4.89\n  elevation: 0\n  country: NL\n  currency: EUR\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {HTTP_PORT}\n"
        "api:\nconfig:\nonboarding:\nlogger:\n  default: warning\n  logs:\n    homeassistant.components.mqtt: debug\n"
    )

processes = []
# Whatever happens (a failed check, an exception), nothing this script started outlives it.
atexit.register(lambda: stop_all())


def log_tail(path, lines=60):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def fail(message):
    print(f"FAIL {message}", flush=True)
    print("--- Home Assistant log (tail) ---")
    print(log_tail(os.path.join(WORK, "ha.log")))
    print("--- mqtt-homed log (tail) ---")
    print(log_tail(os.path.join(WORK, "daemon.log"), 30))
    stop_all()
    sys.exit(1)


def ok(message):
    print(f"ok   {message}", flush=True)


def stop_all():
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def start_daemon():
    env = dict(os.environ, MQTT_HOST="127.0.0.1", MQTT_PORT=str(BROKER_PORT), DATA_DIR=os.path.join(WORK, "data"), LOG_LEVEL="info")
    log = open(os.path.join(WORK, "daemon.log"), "a")
    process = subprocess.Popen([DAEMON], env=env, stdout=log, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


def wait_until(what, predicate, timeout=60, interval=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as error:  # noqa: BLE001 - the condition is retried until the deadline
            last = error
        time.sleep(interval)
    fail(f"{what} (last: {last!r})")


def http(method, path, body=None, token=None, form=False):
    data = None
    headers = {}
    if body is not None:
        if form:
            data = "&".join(f"{k}={urllib.request.quote(str(v))}" for k, v in body.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            is_json = response.headers.get("Content-Type", "").startswith("application/json")
            return response.status, (json.loads(text) if is_json and text else text)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# --- MQTT side: the broker, a device simulator, an RPC helper --------------------------------------------------

device_log = []  # (topic, payload) of every command a simulated device received


def on_message(client, userdata, message):
    payload = message.payload.decode(errors="replace")
    device_log.append((message.topic, payload))
    # Each simulated device reports (retained) the state it was told, as a real relay or bulb does.
    if message.topic == "shelly/hall/set":
        client.publish("shelly/hall", payload, qos=1, retain=True)
    elif message.topic == "tasmota/bulb/set":
        client.publish("tasmota/bulb", payload, qos=1, retain=True)
    elif message.topic == "z2m/garden_plug/set":
        state = json.loads(payload).get("state", "OFF")
        client.publish("z2m/garden_plug", json.dumps({"state": state}), qos=1, retain=True)


devices = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-acceptance-devices", protocol=mqtt.MQTTv5)
devices.on_message = on_message
devices.connect("127.0.0.1", BROKER_PORT)
devices.loop_start()
devices.subscribe([("shelly/hall/set", 1), ("tasmota/bulb/set", 1), ("z2m/garden_plug/set", 1), ("doorbell/notify", 1)])

rpc_answers = {}


daemon_status = {}


def on_rpc(client, userdata, message):
    if message.topic == "mqtt-home/status":
        daemon_status["state"] = json.loads(message.payload or b"{}").get("state") if message.payload else None
        return
    answer = json.loads(message.payload)
    rpc_answers[answer.get("id")] = answer


rpc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-acceptance-rpc", protocol=mqtt.MQTTv5)
rpc.on_message = on_rpc
rpc.connect("127.0.0.1", BROKER_PORT)
rpc.loop_start()
rpc.subscribe([("mqtt-home/reply/ha-acceptance-rpc/#", 1), ("mqtt-home/status", 1)])
next_id = [0]


def call(method, params=None):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    next_id[0] += 1
    request_id = next_id[0]
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = f"mqtt-home/reply/ha-acceptance-rpc/{request_id}"
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
    rpc.publish(f"mqtt-home/rpc/{method}", json.dumps(body), qos=1, properties=properties)
    answer = wait_until(f"an answer to {method}", lambda: rpc_answers.get(request_id), timeout=15, interval=0.02)
    if "error" in answer:
        fail(f"{method}: {answer['error']}")
    return answer["result"]


# --- mqtt-homed with three manual devices ----------------------------------------------------------------------

start_daemon()
wait_until("mqtt-homed is online", lambda: daemon_status.get("state") == "online", timeout=30)
call("devices/add", {"name": "Hall relay", "type": "switch", "state_topic": "shelly/hall", "command_topic": "shelly/hall/set", "area": "Hall"})
call("devices/add", {"name": "Desk bulb", "type": "light", "state_topic": "tasmota/bulb", "command_topic": "tasmota/bulb/set", "area": "Office"})
call("devices/add", {"name": "Door bell", "type": "notify", "state_topic": "doorbell/state", "command_topic": "doorbell/notify"})
call("devices/add", {"name": "Kitchen climate", "type": "sensor", "state_topic": "esp/kitchen", "area": "Kitchen"})
devices.publish("esp/kitchen", json.dumps({"temperature": 21.5, "humidity": 48, "battery": 87}), qos=1, retain=True)
devices.publish("shelly/hall", "OFF", qos=1, retain=True)
devices.publish("tasmota/bulb", "OFF", qos=1, retain=True)
# A device that announces itself, as Zigbee2MQTT does: HA learns it from its own config; mqtt-home reads the same.
garden = {
    "dev": {"ids": ["zigbee2mqtt_0x00158d0001"], "name": "Garden plug", "mf": "IKEA"},
    "o": {"name": "Zigbee2MQTT", "sw": "2.1.0"},
    "cmps": {"plug": {"p": "switch", "uniq_id": "0x00158d0001_switch_zigbee2mqtt", "stat_t": "z2m/garden_plug",
                      "cmd_t": "z2m/garden_plug/set", "val_tpl": "{{ value_json.state }}",
                      "pl_on": "{\"state\":\"ON\"}", "pl_off": "{\"state\":\"OFF\"}", "stat_on": "ON", "stat_off": "OFF"}},
}
devices.publish("homeassistant/device/0x00158d0001/config", json.dumps(garden), qos=1, retain=True)
devices.publish("z2m/garden_plug", json.dumps({"state": "ON"}), qos=1, retain=True)
wait_until("mqtt-homed read the Zigbee2MQTT device", lambda: any(d["origin"] == "ha_discovery" for d in call("devices/list")["items"]))
ok("mqtt-homed has 4 manual devices and 1 discovered device")

# --- Home Assistant, headless -----------------------------------------------------------------------------------

ha_log = open(os.path.join(WORK, "ha.log"), "w")
# --skip-pip: every requirement is in the venv already (scripts/test), and nothing is fetched at start-up.
ha = subprocess.Popen([PYTHON, "-m", "homeassistant", "--config", CONFIG, "--skip-pip"],
                      stdout=ha_log, stderr=subprocess.STDOUT)
processes.append(ha)
wait_until("Home Assistant serves HTTP", lambda: http("GET", "/api/onboarding")[0] == 200, timeout=300, interval=1)
status, created = http("POST", "/api/onboarding/users",
                       {"client_id": CLIENT_ID, "name": "Test", "username": "test", "password": "test-pass-123", "language": "en"})
if status != 200:
    fail(f"onboarding refused: {status} {created}")
status, tokens = http("POST", "/auth/token", {"grant_type": "authorization_code", "code": created["auth_code"], "client_id": CLIENT_ID}, form=True)
if status != 200:
    fail(f"no token: {status} {tokens}")
TOKEN = tokens["access_token"]
ok("Home Assistant is up and onboarded")

# The broker through HA's own config flow, as a user would set it up in the UI.
status, flow = http("POST", "/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options": False}, token=TOKEN)
if status != 200:
    fail(f"MQTT config flow did not start: {status} {flow}")
while flow.get("type") == "form":
    step = flow["step_id"]
    answer = {"broker": "127.0.0.1", "port": BROKER_PORT} if step == "broker" else {}
    status, flow = http("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", answer, token=TOKEN)
    if status != 200:
        fail(f"MQTT config flow step {step}: {status} {flow}")
if flow.get("type") != "create_entry":
    fail(f"MQTT config flow ended with {flow}")
ok("the broker is configured through Home Assistant's MQTT config flow")


def states():
    status, items = http("GET", "/api/states", token=TOKEN)
    return {item["entity_id"]: item for item in items} if status == 200 else {}


def state(entity_id):
    status, item = http("GET", f"/api/states/{entity_id}", token=TOKEN)
    return item if status == 200 else None


def template(text):
    status, rendered = http("POST", "/api/template", {"template": text}, token=TOKEN)
    return rendered if status == 200 else None


def service(domain, name, entity_id, **data):
    status, body = http("POST", f"/api/services/{domain}/{name}", {"entity_id": entity_id, **data}, token=TOKEN)
    if status != 200:
        fail(f"{domain}.{name} on {entity_id}: {status} {body}")


expected = {
    "switch.hall_relay": ("off", None, None),
    "light.desk_bulb": ("off", None, None),
    "sensor.kitchen_climate_temperature": ("21.5", "°C", "temperature"),
    "sensor.kitchen_climate_humidity": ("48", "%", "humidity"),
    "sensor.kitchen_climate_battery": ("87", "%", "battery"),
}
for entity_id, (value, unit, device_class) in expected.items():
    item = wait_until(f"{entity_id} is {value}", lambda: (s := state(entity_id)) and s["state"] == value and s, timeout=60)
    if unit is not None and item["attributes"].get("unit_of_measurement") != unit:
        fail(f"{entity_id}: unit {item['attributes'].get('unit_of_measurement')!r}, expected {unit!r}")
    if device_class is not None and item["attributes"].get("device_class") != device_class:
        fail(f"{entity_id}: device class {item['attributes'].get('device_class')!r}, expected {device_class!r}")
ok("entities appear with the right states, units and device classes: " + ", ".join(expected))

for entity_id, area in [("switch.hall_relay", "Hall"), ("light.desk_bulb", "Office"), ("sensor.kitchen_climate_temperature", "Kitchen")]:
    found = template(f"{{{{ area_name('{entity_id}') }}}}")
    if found != area:
        fail(f"{entity_id} is in area {found!r}, expected {area!r}")
via = template("{{ device_attr(device_id('switch.hall_relay'), 'via_device_id') == device_id('binary_sensor.mqtt_home_connection_state') }}")
if via != "True":
    fail(f"the Hall relay's device is not via the mqtt-home bridge ({via!r})")
ok("devices are in their suggested areas, via the mqtt-home bridge device")

# HA's services reach the devices through <base>/devices/<id>/set.
service("switch", "turn_on", "switch.hall_relay")
wait_until("the Hall relay got ON", lambda: ("shelly/hall/set", "ON") in device_log, timeout=15)
wait_until("switch.hall_relay is on", lambda: state("switch.hall_relay")["state"] == "on", timeout=15)
service("light", "turn_on", "light.desk_bulb")
wait_until("the Desk bulb got ON", lambda: ("tasmota/bulb/set", "ON") in device_log, timeout=15)
wait_until("light.desk_bulb is on", lambda: state("light.desk_bulb")["state"] == "on", timeout=15)
service("light", "turn_off", "light.desk_bulb")
wait_until("the Desk bulb got OFF", lambda: ("tasmota/bulb/set", "OFF") in device_log, timeout=15)
wait_until("light.desk_bulb is off", lambda: state("light.desk_bulb")["state"] == "off", timeout=15)
wait_until("notify.door_bell exists", lambda: state("notify.door_bell") is not None, timeout=30)
service("notify", "send_message", "notify.door_bell", message="Someone is at the door")
wait_until("the Door bell got the message", lambda: ("doorbell/notify", "Someone is at the door") in device_log, timeout=15)
tx = call("devices/logs", {"id": "hall_relay", "direction": "tx"})["items"]
if not tx or tx[0]["topic"] != "shelly/hall/set":
    fail(f"the Hall relay's command is not in its log: {tx}")
ok("HA's switch, light and notify services reach the devices through mqtt-home (confirmed, logged)")

# Not duplicated: the Zigbee2MQTT plug is one entity in HA, announced by Zigbee2MQTT only.
plugs = [e for e, s in states().items() if e.startswith("switch.") and "garden" in e]
if len(plugs) != 1:
    fail(f"the Garden plug is {len(plugs)} entities in HA: {plugs}")
unique = template(f"{{{{ device_attr(device_id('{plugs[0]}'), 'identifiers') | list }}}}")
if "zigbee2mqtt_0x00158d0001" not in (unique or ""):
    fail(f"the Garden plug's device is not Zigbee2MQTT's: {unique}")
if any("mqtt_home_" in e and "garden" in e for e in states()):
    fail("mqtt-home announced the Zigbee2MQTT device again")
ok(f"a device that announces itself is not duplicated ({plugs[0]})")

# Stopping the daemon: its devices become unavailable (availability_mode all with <base>/status).
daemon = processes[0]
daemon.send_signal(signal.SIGTERM)
daemon.wait(30)
for entity_id in expected:
    wait_until(f"{entity_id} unavailable after mqtt-homed stopped", lambda: state(entity_id)["state"] == "unavailable", timeout=20)
if state(plugs[0])["state"] == "unavailable":
    fail("the Zigbee2MQTT plug became unavailable with mqtt-homed, though it is not mqtt-home's")
ok("stopping mqtt-homed makes its devices unavailable (and only its devices)")
processes.remove(daemon)
start_daemon()
wait_until("mqtt-homed is online again", lambda: daemon_status.get("state") == "online", timeout=30)
wait_until("switch.hall_relay available again", lambda: state("switch.hall_relay")["state"] == "on", timeout=30)
ok("starting mqtt-homed again brings them back with their last state")

# Removing a device removes its entities and its device.
call("devices/remove", {"id": "kitchen_climate"})
for entity_id in ["sensor.kitchen_climate_temperature", "sensor.kitchen_climate_humidity", "sensor.kitchen_climate_battery"]:
    wait_until(f"{entity_id} removed", lambda: state(entity_id) is None, timeout=20)
gone = template("{{ integration_entities('mqtt') | select('search', 'kitchen_climate') | list | count }}")
if gone != "0":
    fail(f"entities of the removed device are still registered: {gone}")
ok("removing a device removes its entities")

stop_all()
# Kept after a failure (its logs were printed above); gone after a pass.
shutil.rmtree(WORK, ignore_errors=True)
print("PASS Home Assistant acceptance", flush=True)
