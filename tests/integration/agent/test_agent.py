# The gateway side of issue 8 against a real `certo server` on loopback: `certo gateway
# enroll` (pin from the API, or the server's certificate as CA; no pin, a wrong pin, a used
# token, a wrong --name-check, a second enrollment), the identity at rest (agent.json 0600,
# the key sealed: neither its PEM nor its DER nor its scalar in any file of the data
# directory, decrypted here with the secret key to know what to look for), `certo gateway
# sync` and `status`, and the job loop: discover and sync jobs run by `gateway run
# --once`, a restart job whose gateway is killed -9 in the middle (taken again, attempt 2,
# ended once), SIGTERM during a long poll, reconnection after the server went away, the
# token never in argv, a revoked gateway refused. Every process is ended by its pid.
import base64
import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "api"))
from harness import CERTO, TMP, Server, _procs, finish, ok, req  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

s = Server("srv", "--job-lease", "5")
admin = s.token()
G = os.path.join(TMP, "gw")
ENV = dict(os.environ, CERTO_CONTAINER="0")


def certo(*args, env=None):
    p = subprocess.run([CERTO, *args], capture_output=True, text=True, env=env or ENV)
    return p.returncode, p.stdout, p.stderr


def gw(*args, data=G, env=None):
    return certo("gateway", *args, "--data", data, env=env)


def new_gateway(name):
    st, d, _ = req(s, "POST", "/gateways/", token=admin, body={"name": name})
    assert st == 201, (st, d)
    return d["id"], d["enrollToken"], d["serverFingerprint"]


def token_file(name, token):
    p = os.path.join(TMP, name + ".token")
    with open(p, "w") as f:
        f.write(token + "\n")
    os.chmod(p, 0o600)
    return p


def agent_file(data=G):
    return os.path.join(data, "agent.json")


GW_ID, TOKEN, FP = new_gateway("gw-a")
TF = token_file("a", TOKEN)

# ---- enrollment: refusals first, nothing stored ----
rc, out, err = gw("enroll", "--server", s.url, "--token-file", TF)
ok(rc == 2 and "--server-fingerprint" in err and not os.path.exists(agent_file()),
   f"no pin: exit 2, nothing stored: {rc} {err}")
wrong = ("00" if FP[:2] != "00" else "11") + FP[2:]
rc, out, err = gw("enroll", "--server", s.url, "--token-file", TF, "--server-fingerprint", wrong)
ok(rc == 1 and "pinned" in err and not os.path.exists(agent_file()),
   f"wrong pin: exit 1, nothing stored: {rc} {err}")
rc, out, err = gw("enroll", "--server", s.url, "--server-fingerprint", FP)
ok(rc == 2 and "token" in err, f"no token: exit 2: {err}")
rc, out, err = certo("gateway", "enroll", "--server", s.url, "--token", "0" * 64,
                     "--server-fingerprint", FP, "--data", G)
ok(rc == 2 and "warning: --token on the command line" in err and
   "unknown, used or expired" in err and not os.path.exists(agent_file()),
   f"--token works (with a warning); a wrong one is refused, nothing stored: {err}")

# The token from the environment; the pin as given by the API. The process's argv is read
# while it runs: the token is never there.
env = dict(ENV, GW_TOKEN=TOKEN)
p = subprocess.Popen([CERTO, "gateway", "enroll", "--server", s.url, "--token-env", "GW_TOKEN",
                      "--server-fingerprint", FP, "--data", G, "--json"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
_procs.append(p)
seen = []
while p.poll() is None:
    try:
        seen.append(open(f"/proc/{p.pid}/cmdline", "rb").read())
    except OSError:
        break
out, err = p.communicate()
ok(p.returncode == 0, f"enroll: {p.returncode} {err}")
ok(all(TOKEN.encode() not in c for c in seen), "the token is not in the enroll's argv")
d = json.loads(out)
ok(d["gatewayId"] == GW_ID and d["name"] == "gw-a" and d["serverFingerprint"] == FP,
   f"enroll --json: {d}")
st, d, _ = req(s, "GET", f"/gateways/{GW_ID}", token=admin)
ok(st == 200 and d["state"] == "enrolled", f"the server has it enrolled: {d}")

mode = stat.S_IMODE(os.stat(agent_file()).st_mode)
ok(mode == 0o600, f"agent.json is 0600: {oct(mode)}")
doc = json.load(open(agent_file()))
ok(set(doc) == {"version", "server", "serverFingerprint", "gatewayId", "name", "certificate",
                "caCertificate", "enrolledAt", "sealedKey"} and doc["serverFingerprint"] == FP
   and doc["server"] == s.url, f"what is stored: {sorted(doc)}")

# The key at rest: open the sealed value with the secret key (AES-256-GCM over "CS" 1 |
# kid | nonce | ct | tag, associated data the header and "gateway-agent/key"), then look
# for the key everywhere.
kek = bytes.fromhex(open(os.path.join(G, "secret.key")).read().strip())
sealed = base64.b64decode(doc["sealedKey"])
ok(sealed[:3] == b"CS\x01", "the key is sealed in Certo's format")
pem = AESGCM(kek).decrypt(sealed[7:19], sealed[19:], sealed[:19] + b"gateway-agent/key")
key = serialization.load_pem_private_key(pem, None)
der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption())
scalar = key.private_numbers().private_value.to_bytes(32, "big")
ok(key.curve.name == "secp256r1", "an EC P-256 key")


def clear_key_anywhere(data=G):
    """Files holding the gateway's own key in clear, or any PEM private key outside the
    install backups (DATA/backups and DATA/journal keep copies of the endpoints' own files,
    which hold their keys as the endpoints do: docs/gateway.md)."""
    found = []
    for dp, _, fns in os.walk(data):
        rel = os.path.relpath(dp, data)
        backups = rel.split(os.sep)[0] in ("backups", "journal")
        for fn in fns:
            b = open(os.path.join(dp, fn), "rb").read()
            if der in b or scalar in b or pem in b or (b"PRIVATE KEY" in b and not backups):
                found.append(os.path.join(rel, fn))
    return found


ok(clear_key_anywhere() == [], f"no clear key in the data directory: {clear_key_anywhere()}")
ok(TOKEN not in open(agent_file()).read(), "the token is not stored")

rc, out, err = gw("enroll", "--server", s.url, "--token-file", TF, "--server-fingerprint", FP)
ok(rc == 2 and "already enrolled" in err and "--replace" in err, f"a second enroll: {err}")
rc, out, err = gw("enroll", "--server", s.url, "--token-file", TF, "--server-fingerprint", FP,
                  "--replace")
ok(rc == 2 and json.load(open(agent_file())) == doc, f"a used token: exit 2, kept: {rc} {err}")

# --name-check, and a server verified by CA file (its fingerprint pinned after).
_, tok_b, _ = new_gateway("gw-b")
G2 = os.path.join(TMP, "gw2")
rc, out, err = gw("enroll", "--server", s.url, "--token-file", token_file("b", tok_b),
                  "--server-fingerprint", FP, "--name-check", "gw-x", data=G2)
ok(rc == 2 and "gw-b" in err and not os.path.exists(agent_file(G2)),
   f"--name-check refuses another gateway's token: {rc} {err}")
_, tok_c, _ = new_gateway("gw-c")
ca = os.path.join(TMP, "server.pem")
open(ca, "w").write(ssl.get_server_certificate(("127.0.0.1", s.port)))
rc, out, err = gw("enroll", "--server", s.url, "--token-file", token_file("c", tok_c),
                  "--server-ca", ca, "--name-check", "gw-c", data=G2)
ok(rc == 0 and json.load(open(agent_file(G2)))["serverFingerprint"] == FP,
   f"--server-ca: the server's fingerprint is pinned: {rc} {err}")
rc, out, err = gw("status", "--json", data=G2)
ok(rc == 0 and json.loads(out)["whoami"]["name"] == "gw-c", f"status of gw-c: {out} {err}")

# ---- endpoints and sync ----
K = os.path.join(TMP, "pki")
os.makedirs(K)
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", f"{K}/site.key", "-out", f"{K}/site.crt", "-subj",
                "/CN=site.test", "-days", "30"], check=True, capture_output=True)
for n in ("store1", "slow1"):
    with open(f"{K}/{n}.pem", "w") as f:
        f.write(open(f"{K}/site.crt").read() + open(f"{K}/site.key").read())
    os.chmod(f"{K}/{n}.pem", 0o600)
MARK = os.path.join(TMP, "restart.mark")
SCRIPT = os.path.join(TMP, "restart.sh")
with open(SCRIPT, "w") as f:
    # The first run records its pid and sleeps (to be killed mid-job); later runs are quick.
    f.write(f"#!/bin/sh\nif [ -e {MARK} ]; then echo second run; exit 0; fi\n"
            f"echo $$ > {MARK}.tmp && mv {MARK}.tmp {MARK}\nexec sleep 30\n")
os.chmod(SCRIPT, 0o755)
rc, out, err = certo("tls", "add", "pem", "--name", "store1", "--connection_type", "local",
                     "--path", f"{K}/store1.pem", "--data", G)
ok(rc == 0, f"tls add store1: {err}")
rc, out, err = certo("tls", "add", "pem", "--name", "slow1", "--connection_type", "local",
                     "--path", f"{K}/slow1.pem", "--restart_script", SCRIPT, "--data", G)
ok(rc == 0, f"tls add slow1: {err}")
rc, out, err = gw("sync")
ok(rc == 0 and "Synced 2 endpoints" in out and "2 added" in out, f"gateway sync: {out} {err}")
st, d, _ = req(s, "GET", "/endpoints/", token=admin)
first = {a["value"]: {x["name"]: x["value"] for x in l["attributes"]} for l in d["link"]
         for a in l["attributes"] if a["name"] == "name"}
ok(first.get("store1", {}).get("summary") == f"{K}/store1.pem",
   f"the first sync stores the summary: {first.get('store1')}")
rc, out, err = gw("sync", "--json")
ok(rc == 0 and json.loads(out) == {"added": 0, "removed": 0, "total": 2}, f"sync again: {out}")


def endpoints():
    st, d, _ = req(s, "GET", "/endpoints/", token=admin)
    eps = {}
    for link in d["link"]:
        a = {x["name"]: x["value"] for x in link["attributes"]}
        eps[a["name"]] = a
    return eps


eps = endpoints()
ok(sorted(eps) == ["slow1", "store1"] and eps["store1"]["type"] == "pem" and
   eps["store1"]["transport"] == "local" and eps["store1"]["summary"] == f"{K}/store1.pem",
   f"the server lists the endpoints: {eps}")
rc, out, err = gw("status")
ok(rc == 0 and "gw-a" in out and "2 endpoints synced" in out and FP in out, f"status: {out}")
rc, out, err = gw("status", data=os.path.join(TMP, "nothing"))
ok(rc == 0 and "Not enrolled" in out, f"status, not enrolled: {out}")
rc, out, err = gw("sync", data=os.path.join(TMP, "nothing"))
ok(rc == 2 and "not enrolled" in err, f"sync, not enrolled: {err}")

# ---- jobs ----
org = req(s, "POST", "/orgs/", token=admin, body={"name": "Org"})[1]["id"]
for n in ("store1", "slow1"):
    st, _, _ = req(s, "PATCH", f"/endpoints/{eps[n]['id']}", token=admin, body={"orgId": org})
    ok(st == 200, f"delegate {n}")


def job(jid):
    return req(s, "GET", f"/jobs/{jid}", token=admin)[1]


st, d, _ = req(s, "POST", f"/endpoints/{eps['store1']['id']}/discover", token=admin)
ok(st == 202, f"discover queued: {st} {d}")
J1 = d["jobId"]
rc, out, err = gw("run", "--once", "--wait", "5")
ok(rc == 0 and "job started" in err and "job finished" in err, f"run --once: {rc} {err}")
j = job(J1)
nodes = j.get("result", {}).get("nodes", [])
ok(j["state"] == "succeeded" and j["attempt"] == 1 and len(nodes) == 1 and
   nodes[0]["state"] == "stored" and nodes[0]["ssl"] == "External" and
   nodes[0]["subject"] == "CN=site.test" and nodes[0]["notAfter"].endswith("Z"),
   f"the discover job succeeded with the node: {j}")
ok(set(nodes[0]) == {"name", "alias", "protocol", "ip", "port", "ssl", "state", "subject",
                     "issuer", "notAfter", "fingerprint"}, f"the seed's columns: {nodes[0]}")
st, d, _ = req(s, "GET", f"/endpoints/{eps['store1']['id']}/nodes", token=admin)
ok(st == 200 and len(d["nodes"]) == 1, f"GET /endpoints/ID/nodes: {st} {d}")
rc, out, err = certo("tls", "nodes", "store1", "--data", G)
ok(rc == 0 and "site.test" in out, "the gateway's registry has the discovery too")

st, d, _ = req(s, "POST", f"/gateways/{GW_ID}/sync", token=admin)
ok(st == 202, f"sync job queued: {st} {d}")
rc, out, err = gw("run", "--once", "--wait", "5")
j = job(d["jobId"])
ok(rc == 0 and j["state"] == "succeeded" and j["result"]["total"] == 2, f"sync job: {j} {err}")
rc, out, err = gw("run", "--once", "--wait", "0")
ok(rc == 0 and "job started" not in err, f"no job: --once returns: {rc} {err}")

# A restart job, its gateway killed -9 in the middle: the lease (5 s here) runs out, the
# next gateway takes it again (attempt 2) and it ends once.
st, d, _ = req(s, "POST", f"/endpoints/{eps['slow1']['id']}/restart", token=admin)
ok(st == 202, f"restart queued: {st}")
J3 = d["jobId"]
log3 = open(os.path.join(TMP, "run3.log"), "w")
p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "2", "--heartbeat", "1", "--data", G],
                     stderr=log3, env=ENV)
_procs.append(p)
deadline = time.time() + 20
while not os.path.exists(MARK) and time.time() < deadline:
    time.sleep(0.1)
ok(os.path.exists(MARK), "the restart script started")
time.sleep(2.5)  # heartbeats
j = job(J3)
ok(j["state"] == "running" and j["attempt"] == 1, f"the job is running: {j['state']}")
cmdline = open(f"/proc/{p.pid}/cmdline", "rb").read()
ok(TOKEN.encode() not in cmdline and b"PRIVATE" not in cmdline, "nothing secret in argv")
p.send_signal(signal.SIGKILL)
p.wait()
script_pid = int(open(MARK).read())
try:
    os.kill(script_pid, signal.SIGKILL)  # the script the dead gateway left behind
except ProcessLookupError:
    pass
time.sleep(6)  # the lease runs out
rc, out, err = gw("run", "--once", "--wait", "10")
j = job(J3)
ok(rc == 0 and j["state"] == "succeeded" and j["attempt"] == 2,
   f"taken again and done: {rc} {j} {err}")
st, d, _ = req(s, "GET", f"/jobs/{J3}", token=admin)
events = d.get("events", [])
ok(sum(1 for e in events if e["state"] == "succeeded") == 1 and
   sum(1 for e in events if e["state"] == "failed") == 0, f"ended once: {events}")

# SIGTERM during a long poll: exits 0 at once.
log4 = os.path.join(TMP, "run4.log")
p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "25", "--data", G],
                     stderr=open(log4, "w"), env=ENV)
_procs.append(p)
deadline = time.time() + 10
while "connected" not in open(log4).read() and time.time() < deadline:
    time.sleep(0.1)
time.sleep(0.5)
t0 = time.time()
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=15)
ok(rc == 0 and time.time() - t0 < 5 and "msg=stopped" in open(log4).read(),
   f"SIGTERM while polling: exit {rc} after {time.time() - t0:.1f} s")

# The server goes away and comes back: one line per change, then connected again.
log5 = os.path.join(TMP, "run5.log")
ok(s.stop() == 0, "server stopped")
p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "2", "--data", G],
                     stderr=open(log5, "w"), env=ENV)
_procs.append(p)
time.sleep(4)
s.start()
deadline = time.time() + 20
while "msg=connected" not in open(log5).read() and time.time() < deadline:
    time.sleep(0.2)
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=15)
text = open(log5).read()
ok(rc == 0 and text.count("msg=disconnected") == 1 and "retry_in=" in text and
   "msg=connected" in text, f"reconnected after the server came back: {rc}\n{text}")
ok(all(line.startswith("ts=") and " level=" in line for line in text.splitlines()),
   "logfmt lines")

# An install job: a certificate of the server's inventory, its key handed to this gateway
# with the leased job only, installed on the PEM endpoint by `certo gateway run`.
ik, ic = os.path.join(TMP, "inv.key"), os.path.join(TMP, "inv.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", ik, "-out", ic, "-subj",
                "/CN=store1.example.test", "-days", "30"], check=True, capture_output=True)
st, d, _ = req(s, "POST", "/certificates/", token=admin,
               body={"certificate": open(ic).read(), "key": open(ik).read(), "orgId": org})
ok(st == 201, f"inventory: {st} {d}")
inv_fp = d.get("fingerprint")
st, d, _ = req(s, "POST", f"/endpoints/{eps['store1']['id']}/install", token=admin,
               body={"certificateId": d.get("id")})
ok(st == 202, f"install queued: {st} {d}")
ijob = d.get("jobId")
rc, out, err = gw("run", "--once", "--wait", "5")
j = job(ijob)
ok(rc == 0 and j["state"] == "succeeded", f"install ran: {rc} {j.get('state')} {j.get('message')} {err[-300:]}")
got = subprocess.run(["openssl", "x509", "-in", f"{K}/store1.pem", "-noout", "-fingerprint",
                      "-sha256"], capture_output=True, text=True).stdout.strip()
ok(got.split("=", 1)[-1] == inv_fp, f"the endpoint holds the inventory certificate: {got}")

# An install job whose gateway is killed -9 in the middle (during the install script,
# after the new files were swapped in), and then the server too: the endpoint is never
# broken — its file always holds a certificate and the key that goes with it — and once
# both are back the job, taken again when the lease runs out, finishes once (the journal
# is recovered first).
SCRIPT2, MARK2 = os.path.join(TMP, "slow-install.sh"), os.path.join(TMP, "install.mark")
with open(SCRIPT2, "w") as f:
    f.write(f"#!/bin/sh\nif [ -e {MARK2} ]; then exit 0; fi\n"
            f"echo $$ > {MARK2}.tmp && mv {MARK2}.tmp {MARK2}\nexec sleep 30\n")
os.chmod(SCRIPT2, 0o755)
ok2, oc2 = os.path.join(TMP, "slow2-old.key"), os.path.join(TMP, "slow2-old.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", ok2, "-out", oc2, "-subj",
                "/CN=slow2.example.test", "-days", "30"], check=True, capture_output=True)
slow2 = os.path.join(K, "slow2.pem")
with open(slow2, "w") as f:
    f.write(open(oc2).read() + open(ok2).read())
os.chmod(slow2, 0o600)
rc, out, err = certo("tls", "add", "pem", "--name", "slow2", "--connection_type", "local",
                     "--path", slow2, "--install_script", SCRIPT2, "--data", G)
ok(rc == 0, f"tls add slow2: {err}")
rc, out, err = gw("sync")
slow2_id = endpoints()["slow2"]["id"]
req(s, "PATCH", f"/endpoints/{slow2_id}", token=admin, body={"orgId": org})
nk2, nc2 = os.path.join(TMP, "slow2-new.key"), os.path.join(TMP, "slow2-new.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", nk2, "-out", nc2, "-subj",
                "/CN=slow2.example.test", "-days", "60"], check=True, capture_output=True)
st, d, _ = req(s, "POST", "/certificates/", token=admin,
               body={"certificate": open(nc2).read(), "key": open(nk2).read(), "orgId": org})
new_fp = d.get("fingerprint")
st, d, _ = req(s, "POST", f"/endpoints/{slow2_id}/install", token=admin,
               body={"certificateId": d.get("id")})
J4 = d.get("jobId")
log6 = open(os.path.join(TMP, "run6.log"), "w")
p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "2", "--heartbeat", "1", "--data", G],
                     stderr=log6, env=ENV)
_procs.append(p)
deadline = time.time() + 30
while not os.path.exists(MARK2) and time.time() < deadline:
    time.sleep(0.1)
ok(os.path.exists(MARK2), "the install script started")
p.send_signal(signal.SIGKILL)
p.wait()
try:
    os.kill(int(open(MARK2).read()), signal.SIGKILL)
except (ProcessLookupError, ValueError):
    pass


def served_pair(path):
    """(certificate fingerprint, whether the key in the file matches it), or None."""
    crt = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True)
    pub_c = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-pubkey"],
                           capture_output=True, text=True).stdout
    pub_k = subprocess.run(["openssl", "pkey", "-in", path, "-pubout"], capture_output=True,
                           text=True).stdout
    if crt.returncode != 0:
        return None
    return crt.stdout.strip().split("=", 1)[-1], pub_c == pub_k and pub_c != ""


pair = served_pair(slow2)
ok(pair is not None and pair[1], f"killed mid-install: the file still pairs a certificate "
   f"with its key: {pair}")
# The server dies too (kill -9) and both come back: no job lost, none done twice.
s.proc.send_signal(signal.SIGKILL)
s.proc.wait()
s.start()
time.sleep(6)  # the lease runs out
rc, out, err = gw("run", "--once", "--wait", "10")
j = job(J4)
ok(rc == 0 and j["state"] == "succeeded" and j["attempt"] == 2,
   f"the install taken again and done: {rc} {j.get('state')} {j.get('attempt')} {err[-300:]}")
pair = served_pair(slow2)
ok(pair is not None and pair[1] and pair[0] == new_fp, f"the new certificate and key: {pair}")
events = req(s, "GET", f"/jobs/{J4}", token=admin)[1].get("events", [])
ok(sum(1 for e in events if e["state"] == "succeeded") == 1, f"ended once: {events}")

# A revoked gateway is refused.
st, _, _ = req(s, "DELETE", f"/gateways/{GW_ID}", token=admin)
rc, out, err = gw("run", "--once", "--wait", "0")
ok(rc == 1 and "revoked" in err, f"revoked: {rc} {err}")
rc, out, err = gw("status")
ok(rc == 1 and "gw-a" in out and "revoked" in err, f"status of a revoked gateway: {rc} {err}")
ok(clear_key_anywhere() == [], f"still no clear key anywhere: {clear_key_anywhere()}")
ok(s.stop() == 0, "server SIGTERM exits 0")
finish()
