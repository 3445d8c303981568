# Jobs between the server and its gateways over real HTTPS (issue 8): discovery refused on
# an undelegated endpoint with the seed's message; jobs queued by users in scope, leased by
# exactly one long poll of their own gateway, kept by heartbeats, ended once; a lease that
# runs out (the gateway died) queues the job again and the next poll takes it (attempt 2);
# a gateway can neither take nor report another gateway's jobs; history, logs and nodes.
# The gateways here are this test speaking the job protocol over mutual TLS.
import os
import subprocess
import threading
import time

from harness import TMP, Server, finish, is_error, ok, req

s = Server("jobs", "--job-lease", "5")
admin = s.token()


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True)


def gateway(name):
    st, d, _ = req(s, "POST", "/gateways/", token=admin, body={"name": name})
    key, csr = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".csr")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    st, e, _ = req(s, "POST", "/gateways/enroll",
                   body={"token": d["enrollToken"], "csr": open(csr).read()})
    crt = os.path.join(TMP, name + ".crt")
    open(crt, "w").write(e["certificate"])
    return d["id"], (crt, key)


gw1, c1 = gateway("gw-one")
gw2, c2 = gateway("gw-two")
eps = [{"name": "web1", "type": "nginx", "transport": "local", "summary": "/etc/nginx"},
       {"name": "web2", "type": "nginx", "transport": "local", "summary": "/srv/nginx"}]
req(s, "POST", "/gateway/sync", cert=c1, body={"endpoints": eps})
req(s, "POST", "/gateway/sync", cert=c2, body={"endpoints": [dict(eps[0], name="other1")]})
ids = {}
for l in req(s, "GET", "/endpoints/", token=admin)[1]["link"]:
    a = {x["name"]: x["value"] for x in l["attributes"]}
    ids[a["name"]] = a["id"]
O1 = req(s, "POST", "/orgs/", token=admin, body={"name": "Org One"})[1]["id"]
O2 = req(s, "POST", "/orgs/", token=admin, body={"name": "Org Two"})[1]["id"]
for name, spec in (("op1", {"role": "operator", "orgId": O1}),
                   ("aud1", {"role": "auditor", "orgId": O1}),
                   ("op2", {"role": "operator", "orgId": O2})):
    req(s, "POST", "/users/", token=admin, body=dict(spec, name=name, password="pass-word-1"))
op1, aud1, op2 = (s.token(n, "pass-word-1") for n in ("op1", "aud1", "op2"))

# ---- the seed's rule: delegate before discovering ----
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/discover", token=admin)
ok(st == 409 and is_error(d, "not_delegated") and d["error"]["message"] ==
   "You need to assign an organization or a department to the endpoint before you can "
   "discover nodes", f"undelegated: {st} {d}")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c1)
ok(st == 204, "nothing was queued")
req(s, "PATCH", f"/endpoints/{ids['web1']}", token=admin, body={"orgId": O1})
req(s, "PATCH", f"/endpoints/{ids['other1']}", token=admin, body={"orgId": O2})
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/discover", token=aud1)
ok(st == 403, f"an auditor cannot queue jobs: {st}")
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/discover", token=op2)
ok(st == 404, f"another organization's endpoint: {st}")
st, d, _ = req(s, "POST", f"/endpoints/{ids['web2']}/discover", token=op1)
ok(st == 404, "an undelegated endpoint is not the operator's")

# ---- queue, long poll, exactly once ----
polls = []


def poll(cert, wait):
    got = req(s, "GET", f"/gateway/jobs/next?wait={wait}", cert=cert)
    if got[0] == 200:
        # A heartbeat at once renews the 5 s lease, so it outlasts the other polls' waits
        # however slowly this machine runs: none of them may take the job again.
        req(s, "POST", f"/gateway/jobs/{got[1]['id']}/events", cert=cert,
            body={"state": "running"})
    polls.append(got)


threads = [threading.Thread(target=poll, args=(c1, 4)) for _ in range(2)]
threads.append(threading.Thread(target=poll, args=(c2, 3)))
for t in threads:
    t.start()
time.sleep(1)
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/discover", token=op1)
ok(st == 202 and d["state"] == "queued" and d["href"].endswith(f"/jobs/{d['jobId']}"),
   f"queued: {st} {d}")
job = d["jobId"]
for t in threads:
    t.join()
got = [p for p in polls if p[0] == 200]
ok(len(got) == 1 and got[0][1]["id"] == job and got[0][1]["kind"] == "discover" and
   got[0][1]["endpoint"] == "web1" and got[0][1]["attempt"] == 1 and
   got[0][1]["leaseSeconds"] == 5, f"one long poll of gw-one got it: {[p[0] for p in polls]}")
ok(sorted(p[0] for p in polls) == [200, 204, 204], "the others got 204")

# ---- another gateway can neither report it nor see it ----
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c2, body={"state": "running"})
ok(st == 404, f"gw-two cannot report gw-one's job: {st}")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c2)
ok(st == 204, "gw-two has no job")
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c1, body={"state": "done"})
ok(st == 400 and is_error(d, "invalid", "state"), f"bad state: {d}")

# ---- the gateway dies: the lease runs out, the job is queued again ----
time.sleep(6.5)
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c1, body={"state": "running"})
ok(st == 404 and "lease" in d["error"]["message"], f"a report after the lease: {st} {d}")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c1)
ok(st == 200 and d["id"] == job and d["attempt"] == 2, f"taken up again: {st} {d}")
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c1,
               body={"state": "running", "message": "connecting to 127.0.0.1:443"})
ok(st == 200, "heartbeat")
nodes = [{"name": "www.example.test", "alias": "-", "protocol": "HTTPS", "ip": "127.0.0.1",
          "port": 8443, "ssl": "External", "state": "serving", "fingerprint": "CD:" * 31 + "CD"},
         {"name": "www.example.test", "alias": "-", "protocol": "HTTP", "ip": "127.0.0.1",
          "port": 8080, "ssl": "-", "state": "serving", "fingerprint": None}]
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c1,
               body={"state": "succeeded", "message": "1 node", "log": "listen 8443 ok\n",
                     "result": {"nodes": nodes}})
ok(st == 200, f"succeeded: {st} {d}")
st, d, _ = req(s, "POST", f"/gateway/jobs/{job}/events", cert=c1,
               body={"state": "succeeded", "result": {"nodes": []}})
ok(st == 409 and is_error(d, "conflict"), "a job ends once")

# ---- history, scope, nodes ----
st, d, _ = req(s, "GET", f"/jobs/{job}", token=op1)
states = [e["state"] for e in d.get("events", [])]
ok(st == 200 and d["state"] == "succeeded" and d["attempt"] == 2 and
   states == ["queued", "leased", "running", "queued", "leased", "running", "succeeded"] and
   d["events"][-1]["log"] == "listen 8443 ok\n", f"history: {states} {d.get('state')}")
st, d, _ = req(s, "GET", f"/jobs/{job}", token=op2)
ok(st == 404, "another organization cannot see the job")
st, d, _ = req(s, "GET", "/jobs/", token=op2)
ok(st == 200 and d["total"] == 0, "nor list it")
st, d, _ = req(s, "GET", f"/endpoints/{ids['web1']}/nodes", token=aud1)
ok(st == 200 and d["nodes"] == nodes and d["jobId"] == job,
   f"nodes (SSL External for another certificate, - for none): {d}")
st, d, _ = req(s, "GET", f"/endpoints/{ids['other1']}/nodes", token=op2)
ok(st == 404 and "not discovered" in d["error"]["message"], "not discovered yet")

# ---- restart and sync jobs; bad input; revoked gateways ----
st, d, _ = req(s, "POST", f"/endpoints/{ids['other1']}/restart", token=op2)
ok(st == 202, f"restart queued: {st}")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c2)
ok(st == 200 and d["kind"] == "restart" and d["endpoint"] == "other1", f"gw-two's job: {d}")
st, d, _ = req(s, "POST", f"/gateway/jobs/{d['id']}/events", cert=c2,
               body={"state": "failed", "message": "nginx -s reload: exit 1"})
ok(st == 200, "failed reported")
st, d, _ = req(s, "POST", f"/gateways/{gw1}/sync", token=op1)
ok(st == 403, "only admins queue a sync")
st, d, _ = req(s, "POST", f"/gateways/{gw1}/sync", token=admin)
ok(st == 202, "sync queued")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=31", cert=c1)
ok(st == 400 and is_error(d, "invalid", "wait"), "wait over 30")
st, d, _ = req(s, "GET", "/gateway/jobs/next", cert=c1)
ok(st == 200 and d["kind"] == "sync" and d["endpoint"] is None, f"sync job: {d}")
req(s, "DELETE", f"/gateways/{gw2}", token=admin)
st, d, _ = req(s, "POST", f"/endpoints/{ids['other1']}/restart", token=op2)
ok(st == 409 and "revoked" in d["error"]["message"], f"a revoked gateway's endpoint: {d}")
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c2)
ok(st == 401, "a revoked gateway polls no more")

# ---- the certificate inventory and install jobs ----
ck, cc = os.path.join(TMP, "site.key"), os.path.join(TMP, "site.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ck, "-out", cc, "-subj", "/CN=www.one.test", "-days", "30")
key_pem, cert_pem = open(ck).read(), open(cc).read()
fp = ":".join(f"{b:02X}" for b in __import__("hashlib").sha256(
    __import__("ssl").PEM_cert_to_DER_cert(cert_pem)).digest())
st, d, _ = req(s, "POST", "/certificates/", token=aud1,
               body={"certificate": cert_pem, "key": key_pem, "orgId": O1})
ok(st == 403, f"an auditor cannot add certificates: {st}")
st, d, _ = req(s, "POST", "/certificates/", token=op1,
               body={"certificate": cert_pem, "key": open(os.path.join(TMP, "gw-one.key")).read(),
                     "orgId": O1})
ok(st == 400 and is_error(d, "invalid", "certificate"), f"a key of another certificate: {d}")
st, d, _ = req(s, "POST", "/certificates/", token=op1,
               body={"certificate": cert_pem, "key": key_pem, "orgId": O1})
ok(st == 201 and d["name"] == "www.one.test" and d["fingerprint"] == fp and "key" not in d,
   f"added to the inventory: {st} {d}")
order = d["id"]
st, d, _ = req(s, "POST", "/certificates/", token=op1,
               body={"certificate": cert_pem, "key": key_pem, "orgId": O1})
ok(st == 409 and str(order) in d["error"]["message"], f"the same certificate twice: {d}")
ok(req(s, "GET", f"/certificates/{order}", token=op2)[0] == 404, "another org cannot see it")
ok(req(s, "GET", "/certificates/", token=aud1)[1]["total"] == 1, "the auditor lists it")
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/install", token=op2,
               body={"certificateId": order})
ok(st == 404, "another org cannot install on the endpoint")
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/install", token=op1,
               body={"certificateId": 999})
ok(st == 404 and is_error(d, "not_found", "certificateId"), f"unknown certificate: {d}")
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/install", token=op1,
               body={"certificateId": order})
ok(st == 202, f"install queued: {st} {d}")
ijob = d["jobId"]
st, d, _ = req(s, "GET", "/gateway/jobs/next?wait=0", cert=c1)
ok(st == 200 and d["id"] == ijob and d["kind"] == "install" and
   d["params"]["certificateId"] == order and d["params"]["certificate"].strip() ==
   cert_pem.strip() and "PRIVATE KEY" in d["params"]["key"], "the gateway gets cert and key")
st, d, _ = req(s, "GET", f"/jobs/{ijob}", token=op1)
ok(st == 200 and "key" not in str(d).lower().replace("monkey", ""), "users never see the key")
key_body = "".join(key_pem.strip().splitlines()[1:-1])[:40]
for name, blob in s.db_bytes().items():
    ok(key_body.encode() not in blob and b"PRIVATE KEY" not in blob,
       f"the key is not in clear in {name}")
req(s, "POST", f"/gateway/jobs/{ijob}/events", cert=c1,
    body={"state": "succeeded", "message": "installed, served"})
st, d, _ = req(s, "POST", f"/endpoints/{ids['web1']}/discover", token=op1)
djob = d["jobId"]
req(s, "GET", "/gateway/jobs/next?wait=0", cert=c1)
req(s, "POST", f"/gateway/jobs/{djob}/events", cert=c1,
    body={"state": "succeeded", "result": {"nodes": [dict(nodes[0], fingerprint=fp),
                                                     dict(nodes[0], port=9443,
                                                          fingerprint="AB:" * 31 + "AB"),
                                                     nodes[1]]}})
st, d, _ = req(s, "GET", f"/endpoints/{ids['web1']}/nodes", token=op1)
st, c, _ = req(s, "GET", f"/certificates/{order}", token=aud1)
ok(st == 200 and [(i["endpoint"], i["state"]) for i in c["installations"]] ==
   [("web1", "succeeded")] and [(x["endpoint"], x["port"]) for x in c["servedBy"]] ==
   [("web1", 8443)], f"where the certificate is installed and served: {c}")
ok(st == 200 and [n["ssl"] for n in d["nodes"]] == [str(order), "External", "-"] and
   d["nodes"][0]["certificateId"] == order, f"SSL column: {d}")

# ---- shutdown answers the waiting polls ----
waiting = []
t = threading.Thread(target=lambda: waiting.append(
    req(s, "GET", "/gateway/jobs/next?wait=30", cert=c1)))
parked = s.log().count("status=waiting")
t.start()
deadline = time.time() + 20
while s.log().count("status=waiting") == parked and time.time() < deadline:
    time.sleep(0.1)  # until the server has parked this poll
rc = s.stop()
t.join()
ok(rc == 0 and waiting and waiting[0][0] == 204, f"SIGTERM answers the long poll: {rc} {waiting}")
finish()
