#!/usr/bin/env python3
"""Captures what a real ovsdb-server and ovs-vswitchd send, as seeds for the
OpenFlow and OVSDB fuzz targets. Runs its own switch in a private run
directory and network namespace (never the host's), as root:

    fuzz/seeds/capture-ovs.py OUT_DIR

OUT_DIR/openflow_message/* get one message each (every reply kind the
agent asks for, port status, errors); OUT_DIR/ovsdb_session/* and
OUT_DIR/ovsdb_framing/* the byte stream of the agent's monitor and
transactions, one server message per file and the whole stream.
"""
import json, os, socket, struct, subprocess, sys, tempfile, time

out = sys.argv[1]
run = tempfile.mkdtemp(prefix="tc-fuzz-ovs-")
ns = "tc-fuzz-capture"
env = dict(os.environ, OVS_RUNDIR=run, OVS_LOGDIR=run, OVS_DBDIR=run, OVS_PKGDATADIR="/usr/share/openvswitch")
db = f"{run}/conf.db"
sock = f"{run}/db.sock"
procs = []


def read_until_quiet(sock, wait):
    """Everything `sock` sends until it is quiet for `wait` seconds."""
    sock.settimeout(wait)
    got = bytearray()
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    return bytes(got)

def sh(*args, **kw):
    return subprocess.run(list(args), check=True, env=env, capture_output=True, **kw)

def write(kind, name, data):
    os.makedirs(f"{out}/{kind}", exist_ok=True)
    with open(f"{out}/{kind}/{name}", "wb") as f:
        f.write(data)

try:
    sh("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema")
    procs.append(subprocess.Popen(["ovsdb-server", db, f"--remote=punix:{sock}", f"--pidfile={run}/db.pid", f"--unixctl={run}/db.ctl"], env=env, stderr=subprocess.DEVNULL))
    while not os.path.exists(sock):
        time.sleep(0.05)
    vsctl = lambda *a: sh("ovs-vsctl", f"--db=unix:{sock}", "--no-wait", *a)
    vsctl("init")
    subprocess.run(["ip", "netns", "add", ns], check=False)

    # OVSDB: the agent's monitor, then changes, then transactions.
    c = socket.socket(socket.AF_UNIX); c.connect(sock)
    stream = bytearray()
    def send(obj):
        c.sendall(json.dumps(obj).encode())
    def drain(wait=0.3):
        return read_until_quiet(c, wait)
    monitor = {
        "Bridge": [{"columns": ["name", "ports", "mirrors"]}],
        "Port": [{"columns": ["name", "interfaces", "external_ids", "tag", "trunks", "vlan_mode"]}],
        "Interface": [{"columns": ["name", "type", "options", "external_ids", "ofport", "error"]}],
        "Mirror": [{"columns": ["name", "external_ids", "select_src_port", "select_dst_port", "output_port"]}],
    }
    send({"method": "monitor_cond", "params": ["Open_vSwitch", "tc-agent", monitor], "id": 1}); stream += drain()
    vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")
    procs.append(subprocess.Popen(["ip", "netns", "exec", ns, "ovs-vswitchd", f"unix:{sock}", f"--pidfile={run}/vs.pid", f"--unixctl={run}/vs.ctl", "--log-file=" + f"{run}/vs.log"], env=env, stderr=subprocess.DEVNULL))
    stream += drain(1.5)
    vsctl("add-port", "br-int", "web-1", "--", "set", "interface", "web-1", "type=internal", "external_ids:pod-name=web-1", "external_ids:pod-namespace=default", "external_ids:attached-mac=02:00:00:00:00:01")
    vsctl("add-port", "br-int", "tc-vx", "tag=10", "--", "set", "interface", "tc-vx", "type=vxlan", "options:remote_ip=10.0.10.2", "options:key=1", "external_ids:antrea-type=traffic-control")
    vsctl("--", "--id=@p", "get", "port", "web-1", "--", "--id=@o", "get", "port", "tc-vx", "--", "--id=@m", "create", "mirror", "name=tc-tc-vx", "select-src-port=@p", "select-dst-port=@p", "output-port=@o", "--", "add", "bridge", "br-int", "mirrors", "@m")
    stream += drain(1.5)
    vsctl("set", "port", "tc-vx", "trunks=1,2,3")
    vsctl("set", "interface", "web-1", "external_ids:iface-id=default_web-1")
    vsctl("add-port", "br-int", "bad0", "--", "set", "interface", "bad0", "type=nonsense")
    stream += drain(1.0)
    send({"method": "transact", "params": ["Open_vSwitch",
        {"op": "insert", "table": "Interface", "row": {"name": "tc0", "type": "internal"}, "uuid-name": "iface"},
        {"op": "insert", "table": "Port", "row": {"name": "tc0", "interfaces": ["named-uuid", "iface"]}, "uuid-name": "port"},
        {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]], "mutations": [["ports", "insert", ["set", [["named-uuid", "port"]]]]]}], "id": 2})
    stream += drain(1.0)
    send({"method": "transact", "params": ["Open_vSwitch", {"op": "insert", "table": "Nope", "row": {}}], "id": 3})
    send({"method": "transact", "params": ["Open_vSwitch", {"op": "wait", "table": "Bridge", "where": [["name", "==", "br-int"]], "columns": ["name"], "until": "!=", "rows": [{"name": "br-int"}], "timeout": 0}], "id": 4})
    send({"method": "echo", "params": [], "id": 5})
    stream += drain(0.5)
    vsctl("del-port", "br-int", "web-1")
    vsctl("clear", "bridge", "br-int", "mirrors")
    stream += drain(1.0)
    c.close()
    write("ovsdb_framing", "capture-stream", bytes(stream))
    write("ovsdb_session", "capture-stream", bytes(stream))
    # One file per server message (the framer's job, done by json here).
    dec = json.JSONDecoder(); text = stream.decode(); at = 0; n = 0
    while at < len(text):
        while at < len(text) and text[at].isspace(): at += 1
        if at >= len(text): break
        _, end = dec.raw_decode(text, at)
        write("ovsdb_session", f"capture-{n:03}", text[at:end].encode()); n += 1; at = end

    # OpenFlow 1.5 on the bridge's management socket.
    mgmt = f"{run}/br-int.mgmt"
    for _ in range(100):
        if os.path.exists(mgmt): break
        time.sleep(0.05)
    ofctl = lambda *a: sh("ovs-ofctl", "-O", "OpenFlow15", *a)
    ofctl("add-flow", f"unix:{mgmt}", "table=0,priority=200,in_port=1,reg0=0x3/0xf,actions=set_field:0x1->reg4,goto_table:1")
    ofctl("add-flow", f"unix:{mgmt}", "table=1,priority=190,dl_dst=02:00:00:00:00:01,actions=output:NXM_NX_REG1[]")
    ofctl("add-flow", f"unix:{mgmt}", "cookie=0x7000000000000001,table=2,priority=100,vlan_tci=0x1000/0x1000,actions=push_vlan:0x8100,set_field:4106->vlan_vid,pop_vlan,NORMAL")
    o = socket.socket(socket.AF_UNIX); o.connect(mgmt)
    def of(t, xid, body=b"", v=6):
        return struct.pack("!BBHI", v, t, 8 + len(body), xid) + body
    def recv_all(wait=0.5):
        got = read_until_quiet(o, wait)
        msgs = []; at = 0
        while at + 8 <= len(got):
            ln = struct.unpack("!H", got[at + 2:at + 4])[0]; msgs.append(bytes(got[at:at + ln])); at += ln
        return msgs
    o.sendall(of(0, 1, struct.pack("!HHI", 1, 8, 1 << 6)))
    o.sendall(of(5, 2))
    o.sendall(of(28, 3, struct.pack("!HHIHHI", 2, 8, 7, 3, 8, 7)))
    flow_req = struct.pack("!HH4xB3xII4xQQ", 1, 0, 0xff, 0xffffffff, 0xffffffff, 0, 0) + struct.pack("!HH4x", 1, 4)
    o.sendall(of(18, 4, flow_req))
    o.sendall(of(18, 5, struct.pack("!HH4xI4x", 13, 0, 0xffffffff)))
    o.sendall(of(2, 6, b"ping"))
    o.sendall(of(33, 7, struct.pack("!IHH", 1, 0, 3)))  # bundle open, atomic|ordered
    bad_flow_mod = of(14, 8, struct.pack("!QQBBHHHIIIH2x", 0, 0, 9, 0, 0, 0, 100, 0xffffffff, 0xffffffff, 0xffffffff, 0) + struct.pack("!HH4x", 1, 4) + struct.pack("!HH4x", 1, 8) + struct.pack("!HHB3x", 1, 8, 200))
    o.sendall(of(34, 8, struct.pack("!IHH", 1, 0, 3) + bad_flow_mod))
    o.sendall(of(20, 9))
    o.sendall(of(33, 10, struct.pack("!IHH", 1, 4, 3)))  # commit
    o.sendall(of(33, 11, struct.pack("!IHH", 2, 6, 0)))  # discard of an unknown bundle
    o.sendall(of(99, 12))  # bad type
    o.sendall(of(18, 13, struct.pack("!HH4x", 77, 0)))  # bad multipart
    msgs = recv_all()
    vsctl("add-port", "br-int", "web-2", "--", "set", "interface", "web-2", "type=internal")
    time.sleep(0.5)
    vsctl("del-port", "br-int", "web-2")
    msgs += recv_all(1.0)
    o.close()
    # OpenFlow 1.0 for the no-flood session.
    o = socket.socket(socket.AF_UNIX); o.connect(mgmt)
    o.sendall(of(0, 1, v=1)); o.sendall(of(5, 2, v=1))
    o.sendall(of(15, 3, struct.pack("!H6sIII4x", 1, b"\x02\0\0\0\0\x01", 1 << 4, 1 << 4, 0), v=1))
    o.sendall(of(15, 4, struct.pack("!H6sIII4x", 999, b"\x02\0\0\0\0\x01", 1 << 4, 1 << 4, 0), v=1))
    o.sendall(of(18, 5, v=1))
    msgs += recv_all()
    o.close()
    for i, m in enumerate(msgs):
        write("openflow_message", f"capture-{i:03}-type{m[1]}", m)
    print(f"{len(msgs)} OpenFlow messages, {n} OVSDB messages ({len(stream)} bytes)")
finally:
    for p in reversed(procs):
        p.terminate(); p.wait()
    subprocess.run(["ip", "netns", "del", ns], check=False)
