# Gateways joining the server over real HTTPS (issue 8, first slice): an admin creates a
# gateway and its one-time enrollment token; the gateway enrolls with a CSR and gets a
# client certificate of the gateway CA; it then calls over mutual TLS only (no
# certificate, a self-signed one, or a revoked gateway's: refused); it syncs its endpoint
# list (never credentials: unknown members refused); endpoints are delegated to an
# organization and department and seen only in that scope, by listing and by ID.
import os
import subprocess

from harness import TMP, Server, finish, is_error, ok, req

s = Server("gw")
admin = s.token()


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True)


def new_csr(name):
    key, csr = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".csr")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=asks-to-be-admin")
    return key, open(csr).read()


# ---- creation: admins only; the token is shown once ----
st, d, _ = req(s, "POST", "/gateways/", token=admin, body={"name": "dc1-gw"})
ok(st == 201 and len(d["enrollToken"]) == 64 and d["state"] == "waiting for enrollment" and
   len(d["serverFingerprint"]) == 95, f"gateway created: {st} {d}")
gw1, token1 = d["id"], d["enrollToken"]
st, d, _ = req(s, "POST", "/gateways/", token=admin, body={"name": "dc1-gw"})
ok(st == 409 and is_error(d, "exists"), "a second gateway of that name")
st, d, _ = req(s, "GET", f"/gateways/{gw1}", token=admin)
ok(st == 200 and "enrollToken" not in d, "the token is not shown again")
O1 = req(s, "POST", "/orgs/", token=admin, body={"name": "Org One"})[1]["id"]
O2 = req(s, "POST", "/orgs/", token=admin, body={"name": "Org Two"})[1]["id"]
D1 = req(s, "POST", f"/orgs/{O1}/departments/", token=admin, body={"name": "Web"})[1]["id"]
for name, spec in (("oa1", {"role": "org-admin", "orgId": O1}),
                   ("op1", {"role": "operator", "orgId": O1, "deptId": D1}),
                   ("op2", {"role": "operator", "orgId": O2})):
    req(s, "POST", "/users/", token=admin, body=dict(spec, name=name, password="pass-word-1"))
oa1, op1, op2 = (s.token(n, "pass-word-1") for n in ("oa1", "op1", "op2"))
st, d, _ = req(s, "POST", "/gateways/", token=oa1, body={"name": "sneaky"})
ok(st == 403, f"an org-admin cannot create gateways: {st}")
st, d, _ = req(s, "GET", "/gateways/", token=op1)
ok(st == 403, "an operator cannot list gateways")

# ---- enrollment ----
key1, csr1 = new_csr("gw1")
st, d, _ = req(s, "POST", "/gateways/enroll", body={"token": "0" * 64, "csr": csr1})
ok(st == 401 and is_error(d, "invalid_token", "token"), f"unknown token: {st} {d}")
st, d, _ = req(s, "POST", "/gateways/enroll", body={"token": token1, "csr": "garbage"})
ok(st == 400 and is_error(d, "invalid", "csr"), f"bad CSR: {d}")
st, d, _ = req(s, "POST", "/gateways/enroll", body={"token": token1, "csr": csr1})
ok(st == 200 and d["gatewayId"] == gw1 and "BEGIN CERTIFICATE" in d["certificate"], f"enroll: {st}")
crt1 = os.path.join(TMP, "gw1.crt")
open(crt1, "w").write(d["certificate"])
ca = os.path.join(TMP, "gwca.crt")
open(ca, "w").write(d["caCertificate"])
text = openssl("x509", "-in", crt1, "-noout", "-subject", "-issuer").stdout.decode()
ok("CN = dc1-gw" in text and "asks-to-be-admin" not in text and "Certo gateway CA" in text,
   f"the certificate names the gateway: {text}")
ok(openssl("verify", "-CAfile", ca, crt1).returncode == 0, "it verifies against the gateway CA")
st, d, _ = req(s, "POST", "/gateways/enroll", body={"token": token1, "csr": csr1})
ok(st == 401, "a token works once")
cert1 = (crt1, key1)

# ---- mutual TLS ----
st, d, _ = req(s, "GET", "/gateway/whoami", cert=cert1)
ok(st == 200 and d["name"] == "dc1-gw" and d["state"] == "enrolled", f"whoami: {st} {d}")
st, d, _ = req(s, "GET", "/gateway/whoami")
ok(st == 401 and is_error(d, "unauthorized"), "no client certificate")
self_key = os.path.join(TMP, "self.key")
self_crt = os.path.join(TMP, "self.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", self_key, "-out", self_crt, "-subj", "/CN=dc1-gw", "-days", "2")
st, d, _ = req(s, "GET", "/gateway/whoami", cert=(self_crt, self_key))
ok(st == 401, "a self-signed certificate with the same name")
st, d, _ = req(s, "GET", "/gateway/whoami", token=admin)
ok(st == 401, "a user token is not a gateway")
st, d, _ = req(s, "GET", "/users/", cert=cert1)
ok(st == 401, "a gateway certificate is not a user")

# ---- sync: endpoint list, never credentials ----
eps = [{"name": "web1", "type": "nginx", "transport": "local", "summary": "/etc/nginx"},
       {"name": "store1", "type": "pem", "transport": "local", "summary": "/etc/ssl/site"},
       {"name": "tc1", "type": "tomcat", "transport": "ssh", "summary": "tc1.internal:22"}]
st, d, _ = req(s, "POST", "/gateway/sync", cert=cert1, body={"endpoints": eps})
ok(st == 200 and d == {"added": 3, "removed": 0, "total": 3}, f"sync: {st} {d}")
for desc, body, field in (
        ("a password member", {"endpoints": [dict(eps[0], password="hunter2")]}, "password"),
        ("bad type", {"endpoints": [dict(eps[0], type="exchange")]}, "endpoints"),
        ("duplicate name", {"endpoints": [eps[0], eps[0]]}, "endpoints"),
        ("not an array", {"endpoints": "web1"}, "endpoints")):
    st, d, _ = req(s, "POST", "/gateway/sync", cert=cert1, body=body)
    ok(st == 400 and is_error(d, field=field), f"sync {desc}: {st} {d}")
st, d, _ = req(s, "GET", "/endpoints/", token=admin)
ok(st == 200 and d["total"] == 3, f"nothing changed by refused syncs: {d.get('total')}")
ids = {a["value"]: l["href"].rsplit("/", 1)[1] for l in d["link"] for a in l["attributes"]
       if a["name"] == "name"}

# ---- delegation and scope ----
st, d, _ = req(s, "GET", "/endpoints/", token=oa1)
ok(st == 200 and d["total"] == 0, "undelegated endpoints are the admin's only")
st, d, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=oa1, body={"orgId": O1})
ok(st == 404, f"an org-admin cannot take an undelegated endpoint: {st}")
st, d, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=admin,
               body={"orgId": O2, "deptId": D1})
ok(st == 400 and is_error(d, "invalid", "deptId"), f"department of another org: {d}")
st, d, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=admin, body={"orgId": O1})
ok(st == 200 and d["orgId"] == O1 and d["deptId"] is None, f"delegated to Org One: {d}")
st, d, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=oa1, body={"deptId": D1})
ok(st == 200 and d["deptId"] == D1, f"the org-admin hands it to its department: {d}")
st, d, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=oa1, body={"orgId": O2})
ok(st == 403, "an org-admin cannot give it to another organization")
req(s, "PATCH", f"/endpoints/{ids['store1']}", token=admin, body={"orgId": O1})
req(s, "PATCH", f"/endpoints/{ids['tc1']}", token=admin, body={"orgId": O2})
for who, tok, want in (("org-admin", oa1, ["store1", "web1"]), ("dept operator", op1, ["web1"]),
                       ("other org", op2, ["tc1"])):
    st, d, _ = req(s, "GET", "/endpoints/", token=tok)
    names = sorted(a["value"] for l in d["link"] for a in l["attributes"] if a["name"] == "name")
    ok(st == 200 and names == want, f"{who} sees {names}, want {want}")
for who, tok, ep, want in (("other org", op2, "web1", 404), ("dept operator", op1, "store1", 404),
                           ("dept operator", op1, "web1", 200), ("other org", op2, "tc1", 200)):
    st, _, _ = req(s, "GET", f"/endpoints/{ids[ep]}", token=tok)
    ok(st == want, f"{who} GET {ep}: {st}, want {want}")
st, _, _ = req(s, "PATCH", f"/endpoints/{ids['web1']}", token=op1, body={"deptId": D1})
ok(st == 403, "an operator cannot delegate")

# ---- a later sync keeps delegations and marks what is gone ----
st, d, _ = req(s, "POST", "/gateway/sync", cert=cert1, body={"endpoints": eps[:2]})
ok(st == 200 and d == {"added": 0, "removed": 1, "total": 2}, f"resync: {d}")
st, d, _ = req(s, "GET", f"/endpoints/{ids['web1']}", token=admin)
ok(d["orgId"] == O1 and d["deptId"] == D1, "delegation kept across syncs")
st, d, _ = req(s, "GET", f"/endpoints/{ids['tc1']}", token=admin)
ok("removedAt" in d, "a missing endpoint is marked removed")
st, d, _ = req(s, "GET", "/gateways/", token=admin)
listed = {a["name"]: a for a in ({x["name"]: x["value"] for x in l["attributes"]}
                                 for l in d["link"])}
attrs = listed.get("dc1-gw", {})
ok(d["total"] == 2 and sorted(listed) == ["dc1-gw", "local"] and attrs["state"] == "enrolled" and
   attrs["endpoints"] == 2 and attrs["lastSeen"] > 0 and "certificateFingerprint" not in
   listed["local"], f"gateway list (with the server's embedded one): {d}")

# ---- revocation ----
st, _, _ = req(s, "DELETE", f"/gateways/{gw1}", token=oa1)
ok(st == 403, "an org-admin cannot revoke a gateway")
st, _, _ = req(s, "DELETE", f"/gateways/{gw1}", token=admin)
ok(st == 204, "revoked")
st, d, _ = req(s, "GET", "/gateway/whoami", cert=cert1)
ok(st == 401 and "revoked" in d["error"]["message"], f"a revoked gateway is refused: {d}")
st, d, _ = req(s, "POST", "/gateway/sync", cert=cert1, body={"endpoints": []})
ok(st == 401, "and cannot sync")
ok(s.stop() == 0, "SIGTERM exits 0")
finish()
