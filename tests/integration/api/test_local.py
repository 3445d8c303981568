# The gateway embedded in `certo server` (issue 8): on a single machine, endpoints added
# with `certo tls add` in the server's data directory appear after a sync and are
# discovered and installed without enrolling anything; --no-local-gateway turns it off.
import os
import subprocess
import time

from harness import TMP, Server, finish, ok, req

s = Server("local")
admin = s.token()


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True)


def wait_job(jid, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = req(s, "GET", f"/jobs/{jid}", token=admin)[1]
        if d["state"] in ("succeeded", "failed"):
            return d
        time.sleep(0.2)
    return d


st, d, _ = req(s, "GET", "/gateways/", token=admin)
gws = {a["value"]: l["href"].rsplit("/", 1)[1] for l in d["link"] for a in l["attributes"]
       if a["name"] == "name"}
ok(list(gws) == ["local"], f"the embedded gateway is there: {list(gws)}")
local = gws.get("local")

# An endpoint on this host, added in the server's own data directory.
k, c = os.path.join(TMP, "old.key"), os.path.join(TMP, "old.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", k, "-out", c, "-subj", "/CN=site.local.test", "-days", "30")
site = os.path.join(TMP, "site.pem")
open(site, "w").write(open(c).read() + open(k).read())
os.chmod(site, 0o600)
rc, out, err = s.cli("tls", "add", "pem", "--name", "site", "--connection_type", "local",
                     "--path", site)
ok(rc == 0, f"tls add on the server's host: {err}")
st, d, _ = req(s, "POST", f"/gateways/{local}/sync", token=admin)
ok(st == 202, f"sync queued: {st} {d}")
j = wait_job(d["jobId"])
ok(j["state"] == "succeeded" and "1 added" in j["message"], f"synced by the server itself: {j}")
st, d, _ = req(s, "GET", "/endpoints/", token=admin)
ep = {a["name"]: a["value"] for a in d["link"][0]["attributes"]} if d["total"] else {}
ok(d["total"] == 1 and ep["name"] == "site" and ep["summary"] == site, f"endpoint listed: {d}")
org = req(s, "POST", "/orgs/", token=admin, body={"name": "Org"})[1]["id"]
req(s, "PATCH", f"/endpoints/{ep['id']}", token=admin, body={"orgId": org})

# Discover, then install a certificate of the inventory, all by the embedded gateway.
st, d, _ = req(s, "POST", f"/endpoints/{ep['id']}/discover", token=admin)
j = wait_job(d["jobId"])
ok(j["state"] == "succeeded", f"discovered: {j.get('state')} {j.get('message')}")
st, d, _ = req(s, "GET", f"/endpoints/{ep['id']}/nodes", token=admin)
ok(st == 200 and len(d["nodes"]) >= 1 and d["nodes"][0]["ssl"] == "External",
   f"nodes of the PEM endpoint: {d}")
nk, nc = os.path.join(TMP, "new.key"), os.path.join(TMP, "new.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", nk, "-out", nc, "-subj", "/CN=site.local.test", "-days", "60")
st, d, _ = req(s, "POST", "/certificates/", token=admin,
               body={"certificate": open(nc).read(), "key": open(nk).read(), "orgId": org})
order, fp = d["id"], d["fingerprint"]
st, d, _ = req(s, "POST", f"/endpoints/{ep['id']}/install", token=admin,
               body={"certificateId": order})
j = wait_job(d["jobId"])
ok(j["state"] == "succeeded", f"installed: {j.get('state')} {j.get('message')}")
got = openssl("x509", "-in", site, "-noout", "-fingerprint", "-sha256").stdout.decode()
ok(got.strip().split("=", 1)[-1] == fp, f"the file holds the new certificate: {got}")
st, d, _ = req(s, "POST", f"/endpoints/{ep['id']}/discover", token=admin)
wait_job(d["jobId"])
st, d, _ = req(s, "GET", f"/endpoints/{ep['id']}/nodes", token=admin)
ok(st == 200 and d["nodes"][0]["ssl"] == str(order), f"SSL column: the order number: {d}")
ok(s.stop() == 0, "SIGTERM exits 0 (the worker stops too)")

off = Server("no-local", "--no-local-gateway")
st, d, _ = req(off, "GET", "/gateways/", token=off.token())
ok(st == 200 and d["total"] == 0, "--no-local-gateway: none")
ok(off.stop() == 0, "SIGTERM exits 0")
finish()
