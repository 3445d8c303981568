# The server identity and trust store through the REST API over real HTTPS (issue 7):
# CSR → signed by a test CA → import, and the listener serves it at once (no restart);
# import-db refused over a self-signed identity, then accepted with "replace"; export-db
# on one server → import-db on a second, which then serves the first one's certificate;
# trust import-url against the second server's listener (preview, wrong pin, right pin);
# bad input leaves the identity untouched.
import base64
import os
import ssl
import subprocess

from harness import TMP, Server, finish, is_error, ok, req


def served_fingerprint(server):
    """SHA-256 of the certificate a new TLS connection to 'server' sees."""
    pem = ssl.get_server_certificate(("127.0.0.1", server.port))
    der = ssl.PEM_cert_to_DER_cert(pem)
    import hashlib
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=input)


a = Server("one")
b = Server("two")
ta, tb = a.token(), b.token()

st, ident, _ = req(a, "GET", "/server-cert", token=ta)
ok(st == 200 and ident["self_signed"] and ident["sha256_fingerprint"] == served_fingerprint(a),
   f"show = served: {st}")
fp_before = ident["sha256_fingerprint"]

# ---- bad input never changes the identity ----
for desc, path, body, code, field in (
        ("csr: bad SAN", "/server-cert/csr", {"sans": ["IP:999.1.1.1"]}, 400, "sans"),
        ("csr: sans not a list", "/server-cert/csr", {"sans": "x"}, 400, "sans"),
        ("import: garbage", "/server-cert/import", {"certificate": "garbage"}, 400, "certificate"),
        ("import: unknown field", "/server-cert/import", {"certificate": "x", "cert": 1}, 400,
         "cert"),
        ("export: empty password", "/server-cert/export-db", {"password": ""}, 400, "password"),
        ("import-db: not base64", "/server-cert/import-db", {"pkcs12": "%%%", "password": "x"},
         400, "pkcs12")):
    st, d, _ = req(a, "POST", path, body=body, token=ta)
    ok(st == code and is_error(d, field=field), f"{desc}: {st} {d}")
ca_key, ca_crt = os.path.join(TMP, "ca.key"), os.path.join(TMP, "ca.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-subj", "/CN=Certo Test CA", "-days", "30")
other_key = os.path.join(TMP, "other.key")
other_crt = os.path.join(TMP, "other.crt")
openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", other_key, "-out", other_crt, "-subj", "/CN=not-our-key", "-days", "30")
st, d, _ = req(a, "POST", "/server-cert/import", token=ta,
               body={"certificate": open(other_crt).read()})
ok(st == 400 and is_error(d, "invalid", "certificate"), f"import of another key's cert: {d}")
ok(req(a, "GET", "/server-cert", token=ta)[1]["sha256_fingerprint"] == fp_before,
   "identity unchanged after refused imports")

# ---- CSR → CA → import; served at once ----
st, d, _ = req(a, "POST", "/server-cert/csr", token=ta,
               body={"subject": "CN=orchestrator.test,O=Certo", "sans": ["DNS:orchestrator.test",
                                                                          "IP:127.0.0.1"]})
ok(st == 200 and d["csr"].startswith("-----BEGIN CERTIFICATE REQUEST-----"), f"CSR: {st}")
csr = os.path.join(TMP, "a.csr")
open(csr, "w").write(d["csr"])
text = openssl("req", "-in", csr, "-noout", "-text").stdout.decode()
ok("CN = orchestrator.test" in text and "DNS:orchestrator.test" in text and
   "IP Address:127.0.0.1" in text, "CSR subject and SANs")
signed = os.path.join(TMP, "a.crt")
ext = os.path.join(TMP, "ext.cnf")
open(ext, "w").write("subjectAltName=DNS:orchestrator.test,IP:127.0.0.1\n")
openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "10", "-out", signed, "-extfile", ext)
st, d, _ = req(a, "POST", "/server-cert/import", token=ta,
               body={"certificate": open(signed).read() + open(ca_crt).read()})
ok(st == 200 and not d["self_signed"] and d["issuer"] == "CN=Certo Test CA", f"import: {st} {d}")
ok(served_fingerprint(a) == d["sha256_fingerprint"], "the listener serves the CA-signed one now")
ctx = ssl.create_default_context(cafile=ca_crt)
ctx.check_hostname = False
import socket
with socket.create_connection(("127.0.0.1", a.port)) as sock:
    with ctx.wrap_socket(sock) as tls:
        subject = dict(rdn[0] for rdn in tls.getpeercert()["subject"])
        ok(subject.get("commonName") == "orchestrator.test",
           "a client trusting only the test CA verifies the server")
st, _, _ = req(a, "GET", "/auth/whoami", token=ta)
ok(st == 200, "tokens survive an import for the same key")

# ---- export-db on one, import-db on two ----
st, d, _ = req(a, "POST", "/server-cert/export-db", token=ta, body={"password": "move-it-now"})
ok(st == 200 and d["alias"] == "identity", f"export-db: {st}")
p12 = base64.b64decode(d["pkcs12"])
p12_path = os.path.join(TMP, "a.p12")
open(p12_path, "wb").write(p12)
info = openssl("pkcs12", "-in", p12_path, "-info", "-nokeys", "-passin", "pass:move-it-now")
ok(b"orchestrator.test" in info.stdout, "openssl reads the exported PKCS#12")
two_before = served_fingerprint(b)
body = {"pkcs12": d["pkcs12"], "password": "move-it-now"}
st, d, _ = req(b, "POST", "/server-cert/import-db", token=tb, body=body)
ok(st == 409 and is_error(d, "self_signed_identity", "replace"), f"refused over self-signed: {d}")
ok(served_fingerprint(b) == two_before, "server two unchanged")
st, d, _ = req(b, "POST", "/server-cert/import-db", token=tb,
               body=dict(body, password="wrong-password", replace=True))
ok(st == 400 and is_error(d, "invalid", "password") and "wrong-password" not in str(d),
   f"wrong password: {d}")
st, d, _ = req(b, "POST", "/server-cert/import-db", token=tb, body=dict(body, replace=True))
ok(st == 200 and d["sha256_fingerprint"] == served_fingerprint(a), f"import-db --replace: {st}")
ok(served_fingerprint(b) == served_fingerprint(a), "server two serves server one's identity")

# ---- trust import-url against the second server's listener ----
c = Server("three")
tc = c.token()
st, d, _ = req(c, "POST", "/trust/import-url", token=tc, body={"host": "127.0.0.1", "port": b.port})
ok(st == 200 and d["stored"] is False and
   d["certificate"]["sha256_fingerprint"] == served_fingerprint(b), f"preview: {st} {d}")
ok(req(c, "GET", "/trust/", token=tc)[1]["total"] == 0, "preview stores nothing")
st, d, _ = req(c, "POST", "/trust/import-url", token=tc,
               body={"host": "127.0.0.1", "port": b.port, "fingerprint": "AB" * 32})
ok(st == 409 and is_error(d, "fingerprint_mismatch", "fingerprint"), f"wrong pin: {d}")
st, d, _ = req(c, "POST", "/trust/import-url", token=tc,
               body={"host": "169.254.169.254", "port": 80, "fingerprint": "AB" * 32})
ok(st == 400 and is_error(d, field="host"), f"metadata address refused: {st} {d}")
st, d, _ = req(c, "POST", "/trust/import-url", token=tc,
               body={"host": "127.0.0.1", "port": b.port,
                     "fingerprint": served_fingerprint(b).replace(":", "").lower()})
ok(st == 201 and d["stored"], f"pinned import: {st} {d}")
st, d, _ = req(c, "GET", "/trust/", token=tc)
ok(d["total"] == 1, "one trusted certificate")
alias = d["link"][0]["href"].rsplit("/", 1)[1]
st, d, _ = req(c, "GET", "/trust/export", token=tc)
ok(st == 200 and d["count"] == 1 and "BEGIN CERTIFICATE" in d["pem"], "trust export")
st, d, _ = req(a, "POST", "/trust/", token=ta, body={"certificate": d["pem"]})
ok(st == 201 and d["added"] == 1, f"replicated to server one: {st} {d}")
st, d, _ = req(a, "POST", "/trust/", token=ta,
               body={"certificate": req(c, "GET", "/trust/export", token=tc)[1]["pem"]})
ok(st == 200 and d["added"] == 0 and d["items"][0]["skipped"], "replication again adds nothing")
st, _, _ = req(c, "DELETE", f"/trust/{alias}", token=tc)
ok(st == 204 and req(c, "GET", "/trust/", token=tc)[1]["total"] == 0, "remove")

# ---- a listener certificate of its own; the identity stays ----
lst_key, lst_crt = os.path.join(TMP, "lst.key"), os.path.join(TMP, "lst.crt")
lst_csr = os.path.join(TMP, "lst.csr")
openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", lst_key, "-out", lst_csr,
        "-subj", "/CN=www.company.test")
openssl("x509", "-req", "-in", lst_csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "10", "-out", lst_crt)
ident_fp = req(c, "GET", "/server-cert", token=tc)[1]["sha256_fingerprint"]
st, d, _ = req(c, "GET", "/server-cert/listener", token=tc)
ok(st == 404 and is_error(d, "not_found"), "no listener certificate at first")
st, d, _ = req(c, "POST", "/server-cert/listener", token=tc,
               body={"certificate": open(lst_crt).read(), "key": open(other_key).read()})
ok(st == 400 and is_error(d, field="certificate") and served_fingerprint(c) == ident_fp,
   f"key of another certificate refused, nothing changed: {st} {d}")
st, d, _ = req(c, "POST", "/server-cert/listener", token=tc,
               body={"certificate": open(lst_crt).read(), "key": "garbage"})
ok(st == 400 and is_error(d, "invalid", "key"), f"garbage key: {d}")
st, d, _ = req(c, "POST", "/server-cert/listener", token=tc,
               body={"certificate": open(lst_crt).read() + open(ca_crt).read(),
                     "key": open(lst_key).read()})
ok(st == 200 and d["sha256_fingerprint"] == ident_fp, f"listener set: {st}")
lst_fp = req(c, "GET", "/server-cert/listener", token=tc)[1]["sha256_fingerprint"]
ok(served_fingerprint(c) == lst_fp != ident_fp, "the listener serves its own certificate")
ok(req(c, "GET", "/auth/whoami", token=tc)[0] == 200, "tokens (signed by the identity) still work")
ok(req(c, "GET", "/server-cert", token=tc)[1]["sha256_fingerprint"] == ident_fp,
   "the identity is unchanged")
st, _, _ = req(c, "DELETE", "/server-cert/listener", token=tc)
ok(st == 200 and served_fingerprint(c) == ident_fp, "cleared: the identity is served again")
st, d, _ = req(c, "DELETE", "/server-cert/listener", token=tc)
ok(st == 404, "clearing twice: 404")

# ---- rotate: new key, old certificate kept as a signer, served at once ----
st, d, _ = req(c, "POST", "/server-cert/rotate", token=tc)
ok(st == 200 and d["self_signed"] and served_fingerprint(c) == d["sha256_fingerprint"],
   f"rotate: {st}")
ok(all(s.stop() == 0 for s in (a, b, c)), "SIGTERM exits 0")
finish()
