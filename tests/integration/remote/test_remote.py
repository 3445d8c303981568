# Remote administration (issue 7, "the client side"): `certo --server URL --token-file F ...`
# against real `certo server` processes on loopback. Every remote command is compared with
# the offline command on the same data directory; TLS verification (CA file, pin, wrong
# CA, wrong pin, http://), token life (expired, revoked), holder-of-key tokens, usage
# errors, and the secret canary (no password or token in any output or in argv).
import json
import os
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from harness import (CERTO, TMP, Server, certo, finish, is_error, jwt_claims,  # noqa: E402
                     make_client_cert, ok, req, sign_jwt)

OUTPUTS = []  # every stdout and stderr, for the canary


def run(*args, env=None, input=None):
    rc, out, err = certo(*args, env=env, input=input)
    OUTPUTS.append(out)
    OUTPUTS.append(err)
    return rc, out, err


def server_pem(srv, path):
    pem = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}"],
                         input="", capture_output=True, text=True).stdout
    cert = subprocess.run(["openssl", "x509"], input=pem, capture_output=True, text=True).stdout
    with open(path, "w") as f:
        f.write(cert)
    return path


a = Server("a")
b = Server("b")
URL = f"https://127.0.0.1:{a.port}"
pwfile = os.path.join(TMP, "admin.pw")
with open(pwfile, "w") as f:
    f.write(a.admin_pw + "\n")
os.chmod(pwfile, 0o600)
ca = server_pem(a, os.path.join(TMP, "a.pem"))
tokfile = os.path.join(TMP, "token")

# ---- login ----
rc, out, err = run("login", "--server", URL, "--user", "admin", "--password-file", pwfile,
                   "--server-ca", ca, "-o", tokfile)
ok(rc == 0 and "logged in" in out and tokfile in out, f"login: {rc} {out} {err}")
ok(stat.S_IMODE(os.stat(tokfile).st_mode) == 0o600, "token file is 0600")
TOKEN = open(tokfile).read().strip()
ok(len(TOKEN.split(".")) == 3 and jwt_claims(TOKEN)["sub"] == "admin", "the file holds a token")
R = ["--server", URL, "--token-file", tokfile, "--server-ca", ca]
D = ["--data", a.dir]


def remote(*args, **kw):
    return run(*R, *args, **kw)


def local(*args, **kw):
    return run(*args, *D, **kw)


def same(args, desc, strip=None, env=None):
    """Runs a command remotely and offline; both succeed with the same output."""
    rr, ro, re_ = remote(*args, env=env)
    lr, lo, le = local(*args, env=env)
    if strip:
        lo = strip(lo)
    ok(rr == 0 and lr == 0, f"{desc}: exit {rr}/{lr}: {re_} {le}")
    ok(ro == lo, f"{desc}: remote output differs:\n--- remote\n{ro}\n--- offline\n{lo}")
    return ro


def same_json(args, desc, drop=()):
    rr, ro, re_ = remote(*args, "--json")
    lr, lo, le = local(*args, "--json")
    ok(rr == 0 and lr == 0, f"{desc} --json: exit {rr}/{lr}: {re_} {le}")
    try:
        rj, lj = json.loads(ro), json.loads(lo)
    except ValueError:
        ok(False, f"{desc} --json: not JSON: {ro!r} {lo!r}")
        return None
    for k in drop:
        lj.pop(k, None)
    ok(rj == lj, f"{desc} --json differs:\n{rj}\n{lj}")
    return rj


# ---- server-cert show ----
no_signers = lambda t: "".join(l for l in t.splitlines(True) if "package signers" not in l)
same(["server-cert", "show"], "server-cert show", strip=no_signers)
same_json(["server-cert", "show"], "server-cert show", drop=("package_signers",))

# ---- environment: CERTO_SERVER, CERTO_TOKEN_FILE ----
rc, out, err = run("--server-ca", ca, "server-cert", "show",
                   env={"CERTO_SERVER": URL, "CERTO_TOKEN_FILE": tokfile})
ok(rc == 0 and "SHA-256:" in out, f"CERTO_SERVER + CERTO_TOKEN_FILE: {rc} {err}")
rc, out, err = run("server-cert", "show", *D, env={"CERTO_SERVER": URL})
ok(rc == 0 and "previous identities" in out, f"--data wins over CERTO_SERVER: {rc} {err}")

# ---- orgs and users ----
rc, out, err = remote("org", "add", "Acme")
ok(rc == 0 and out.startswith("organization Acme added (id "), f"org add: {out} {err}")
rc, out, err = remote("org", "add", "Acme", "Dev")
ok(rc == 0 and out.startswith("department Dev of Acme added (id "), f"dept add: {out} {err}")
rc, out, err = remote("org", "add", "Acme")
ok(rc == 2 and "certo org add:" in err, f"org add twice: exit {rc} {err}")
same(["org", "list"], "org list")
env = {"NEWPW": "bob-password-1"}
rc, out, err = remote("user", "add", "bob", "--role", "operator", "--org", "Acme", "--dept", "Dev",
                      "--password-env", "NEWPW", env=env)
ok(rc == 0 and out.startswith("user bob added (id ") and "role operator" in out,
   f"user add: {rc} {out} {err}")
rc, out, err = remote("user", "add", "carol", "--role", "auditor", "--no-password")
ok(rc == 0, f"user add --no-password: {err}")
rc, out, err = remote("user", "add", "x", "--role", "boss", "--no-password")
ok(rc == 2 and "role" in err, f"bad role: {rc} {err}")
rc, out, err = remote("user", "add", "bob", "--role", "operator", "--password-env", "NEWPW",
                      env=env)
ok(rc == 2 and err.startswith("certo user add: ") and len(err.splitlines()) == 1,
   f"user add twice: {rc} {err}")
same(["user", "list"], "user list")
same_json(["user", "list"], "user list")
rc, out, err = remote("user", "passwd", "bob", "--password-env", "NEWPW",
                      env={"NEWPW": "bob-password-2"})
ok(rc == 0 and out == "password of bob changed; its tokens are revoked\n", f"passwd: {out} {err}")
st, d, _ = req(a, "POST", "/auth/token", form={"grant_type": "password", "username": "bob",
                                                "password": "bob-password-2"})
ok(st == 200, "the new password works")
rc, out, err = remote("user", "passwd", "nobody", "--password-env", "NEWPW",
                      env={"NEWPW": "whatever-pw-1"})
ok(rc == 2 and "nobody" in err, f"passwd unknown user: {rc} {err}")
rc, out, err = remote("org", "remove", "Acme")
ok(rc == 2 and err.startswith("certo org remove: "), f"remove a non-empty org: {rc} {err}")
rc, out, err = remote("user", "remove", "bob")
ok(rc == 0 and out == "user bob removed\n", f"user remove: {out} {err}")
rc, out, err = remote("user", "remove", "admin")
ok(rc == 2 and "yourself" in err, f"remove yourself: {rc} {err}")
same(["user", "list"], "user list after remove")
rc, out, err = remote("org", "remove", "Acme", "Dev")
ok(rc == 0 and out == "department removed\n", f"dept remove: {out} {err}")
rc, out, err = remote("org", "remove", "Acme")
ok(rc == 0 and out == "organization removed\n", f"org remove: {out} {err}")
same(["org", "list"], "org list after remove")

# ---- trust ----
peer = os.path.join(TMP, "peer.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", os.path.join(TMP, "peer.key"), "-out", peer, "-subj",
                "/CN=Peer.Example", "-days", "30"], check=True, capture_output=True)
der = os.path.join(TMP, "peer2.der")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", os.path.join(TMP, "peer2.key"), "-outform", "DER", "-out",
                der, "-subj", "/CN=second", "-days", "30"], check=True, capture_output=True)
rc, out, err = remote("trust", "import", peer)
ok(rc == 0 and "added 'peer.example'" in out and "1 added, 0 already trusted" in out,
   f"trust import: {out} {err}")
rc, out, err = remote("trust", "import", der, "--alias", "second-one")
ok(rc == 0 and "added 'second-one'" in out, f"trust import DER: {out} {err}")
rc, out, err = remote("trust", "import", peer)
ok(rc == 0 and "skipped" in out and "0 added, 1 already trusted" in out, f"again: {out} {err}")
rc, out, err = remote("trust", "import", peer, "--alias", "Bad Alias")
ok(rc == 2 and "--alias" in err, f"bad alias: {rc} {err}")
same(["trust", "list"], "trust list")
same_json(["trust", "list"], "trust list")
same(["trust", "show", "peer.example"], "trust show")
same_json(["trust", "show", "peer.example"], "trust show")
same(["trust", "export"], "trust export")
rc, out, err = remote("trust", "show", "nothing-here")
ok(rc == 2 and "certo trust show:" in err, f"show unknown: {rc} {err}")
rc, out, err = remote("trust", "remove", "second-one")
ok(rc == 0 and out.startswith("removed 'second-one' (SHA-256 "), f"trust remove: {out} {err}")
same(["trust", "list"], "trust list after remove")
exp = os.path.join(TMP, "trust-export.pem")
rc, out, err = remote("trust", "export", "-o", exp)
ok(rc == 0 and out == f"exported 1 certificate to {exp}\n" and "certo-trust alias=peer.example"
   in open(exp).read(), f"trust export -o: {out} {err}")

# import-url through the server: b's certificate, as a seen from a
bfp = json.loads(run("server-cert", "show", "--data", b.dir, "--json")[1])["sha256_fingerprint"]
target = f"127.0.0.1:{b.port}"
rc, out, err = remote("trust", "import-url", target)
ok(rc == 2 and "SHA-256:     " + bfp in out and "--fingerprint" in err and "subject:" in out,
   f"import-url without a terminal: {rc} {out} {err}")
rc, out, err = remote("trust", "import-url", target, "--fingerprint", "AB" * 32)
ok(rc == 2 and "nothing stored" in err, f"import-url wrong pin: {rc} {err}")
rc, out, err = remote("trust", "import-url", target, "--fingerprint", bfp.replace(":", "").lower(),
                      "--alias", "srv-b")
ok(rc == 0 and f"trusted as 'srv-b' (SHA-256 {bfp})" in out, f"import-url: {rc} {out} {err}")
rc, out, err = remote("trust", "import-url", target, "--yes")
ok(rc == 2 and "already trusted as 'srv-b'" in err, f"import-url again: {rc} {err}")
rc, out, err = local("trust", "show", "srv-b")
ok(rc == 0 and f"source:       url:{target}" in out, f"stored with its source: {out}")
same(["trust", "list"], "trust list after import-url")

# ---- server-cert csr, import (CA-signed), export-db, import-db, rotate, reload ----
csr = os.path.join(TMP, "a.csr")
rc, out, err = remote("server-cert", "csr", "--subject", "CN=remote.test", "--san",
                      "IP:127.0.0.1", "--san", "DNS:localhost", "-o", csr)
ok(rc == 0 and "BEGIN CERTIFICATE REQUEST" in open(csr).read(), f"csr: {err}")
rc, out, err = remote("server-cert", "csr")
ok(rc == 0 and out.startswith("-----BEGIN CERTIFICATE REQUEST-----"), "csr to stdout")
cakey, cacrt = os.path.join(TMP, "ca.key"), os.path.join(TMP, "ca.crt")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", cakey, "-out", cacrt, "-subj",
                "/CN=Remote Test CA", "-days", "30"], check=True, capture_output=True)
signed = os.path.join(TMP, "a-signed.pem")
ext = os.path.join(TMP, "ext.cnf")
with open(ext, "w") as f:
    f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", cacrt, "-CAkey", cakey,
                "-CAcreateserial", "-out", signed, "-days", "20", "-extfile", ext], check=True,
               capture_output=True)
rc, out, err = remote("server-cert", "import", "--cert", signed, "--chain", cacrt)
ok(rc == 0 and "subject:     CN=remote.test" in out, f"import CA-signed: {rc} {out} {err}")
# the listener reloaded: now the CA verifies it, the old self-signed pin does not
R = ["--server", URL, "--token-file", tokfile, "--server-ca", cacrt]
rc, out, err = remote("server-cert", "show")
ok(rc == 0 and "issuer:      CN=Remote Test CA" in out, f"verified by the CA: {rc} {err}")
same(["server-cert", "show"], "server-cert show (CA-signed)", strip=no_signers)
rc, out, err = remote("server-cert", "import", "--cert", peer)
ok(rc == 2 and "certificate" in err, f"import a foreign certificate: {rc} {err}")
rc, out, err = remote("server-cert", "import", "--cert", os.path.join(TMP, "missing.pem"))
ok(rc == 2 and "--cert" in err, f"import missing file: {rc} {err}")

p12 = os.path.join(TMP, "remote.p12")
penv = {"P12PW": "export-pw-1"}
rc, out, err = remote("server-cert", "export-db", "--out", p12, "--password-env", "P12PW",
                      env=penv)
ok(rc == 0 and stat.S_IMODE(os.stat(p12).st_mode) == 0o600, f"export-db: {rc} {err}")
p = subprocess.run(["openssl", "pkcs12", "-in", p12, "-nokeys", "-passin", "pass:export-pw-1"],
                   capture_output=True, text=True)
ok(p.returncode == 0 and "remote.test" in p.stdout, f"openssl reads the export: {p.stderr}")
rc, out, err = remote("server-cert", "import-db", "--in", p12, "--password-env", "P12PW",
                      env={"P12PW": "wrong-pw"})
ok(rc == 2 and "password" in err, f"import-db wrong password: {rc} {err}")
rc, out, err = remote("server-cert", "import-db", "--in", p12, "--password-env", "P12PW",
                      "--replace", "--json", env=penv)
ok(rc == 0 and json.loads(out)["subject"] == "CN=remote.test", f"import-db: {rc} {out} {err}")
rc, out, err = remote("server-cert", "reload", "--json")
ok(rc == 0 and json.loads(out)["subject"] == "CN=remote.test", f"reload: {rc} {err}")
rc, out, err = run("server-cert", "reload")
ok(rc == 2 and "--server" in err, f"reload offline: {rc} {err}")
rc, out, err = remote("server-cert", "rotate", "--json")
ok(rc == 0 and json.loads(out)["self_signed"], f"rotate: {rc} {err}")
newfp = json.loads(out)["sha256_fingerprint"] if rc == 0 else "?"

# ---- verification failures ----
rc, out, err = remote("server-cert", "show")  # the CA no longer signs the rotated identity
ok(rc == 1 and len(err.splitlines()) == 1 and "TLS verification" in err and "--server-ca" in err,
   f"wrong CA: {rc} {err}")
# A new key signs tokens from now on (the server refuses the old ones): log in again.
rc, out, err = remote("user", "list")
ok(rc in (1, 2), "the old token or CA no longer works")
rc, out, err = run("login", "--server", URL, "--user", "admin", "--password-file", pwfile,
                   "--server-fingerprint", newfp, "-o", tokfile)
ok(rc == 0, f"login with a pin: {rc} {err}")
TOKEN = open(tokfile).read().strip()
R = ["--server", URL, "--token-file", tokfile, "--server-fingerprint", newfp]
rc, out, err = remote("server-cert", "show")
ok(rc == 0 and newfp in out, f"pinned: {rc} {err}")
same(["server-cert", "show"], "server-cert show (pinned)", strip=no_signers)
rc, out, err = run("--server", URL, "--token-file", tokfile, "--server-fingerprint", bfp,
                   "user", "list")
ok(rc == 1 and "not the pinned" in err and "nothing was sent" in err, f"wrong pin: {rc} {err}")
rc, out, err = run("--server", URL, "--token-file", tokfile, "user", "list")
ok(rc == 1 and "TLS verification" in err, f"system store refuses a self-signed server: {err}")
rc, out, err = run("--server", f"http://127.0.0.1:{a.port}", "--token-file", tokfile, "user", "list")
ok(rc == 2 and "http://" in err, f"http:// refused: {rc} {err}")
rc, out, err = run("--server", URL, "--token-file", tokfile, "--server-fingerprint", "12:34",
                   "user", "list")
ok(rc == 2 and "fingerprint" in err, f"bad pin: {rc} {err}")
rc, out, err = run("--server", f"https://admin:x@127.0.0.1:{a.port}", "--token-file", tokfile,
                   "user", "list")
ok(rc == 2 and "user:password@" in err, f"credentials in URL: {rc} {err}")
rc, out, err = run(*R, "user", "list", "--data", a.dir)
ok(rc == 2 and "--server and --data" in err, f"--server with --data: {rc} {err}")
rc, out, err = run(*R, "cert", "inspect", peer)
ok(rc == 2 and "does not run against a server" in err, f"--server with a local group: {err}")
rc, out, err = run("--server", URL, "--server-fingerprint", newfp, "user", "list",
                   env={"CERTO_TOKEN_FILE": "", "HOME": TMP, "XDG_CONFIG_HOME": ""})
ok(rc == 2 and "no credentials" in err, f"no credentials: {rc} {err}")
rc, out, err = run("--server", URL, "--server-fingerprint", newfp, "--user", "admin",
                   "--password-file", pwfile, "user", "list")
ok(rc == 0 and "admin" in out, f"--user with --password-file: {rc} {err}")
rc, out, err = run("--server", URL, "--server-fingerprint", newfp, "--user", "admin",
                   "--password-env", "PW", "user", "list", env={"PW": "wrong-password-1"})
ok(rc == 2 and "wrong user name or password" in err, f"wrong password: {rc} {err}")
closed = f"https://127.0.0.1:{b.port + 0}"
b.stop()
rc, out, err = run("--server", closed, "--token-file", tokfile, "user", "list")
ok(rc == 1 and len(err.splitlines()) == 1, f"nothing listening: {rc} {err}")

# ---- expired and revoked tokens ----
key, crt = os.path.join(TMP, "id.key"), os.path.join(TMP, "id.crt")
rc, _, err = local("server-cert", "export-db", "--out", os.path.join(TMP, "id.p12"),
                   "--password-env", "P", env={"P": "export-pw"})
for part, path in (("-nocerts", key), ("-clcerts", crt)):
    subprocess.run(["openssl", "pkcs12", "-in", os.path.join(TMP, "id.p12"), part, "-nodes",
                    "-passin", "pass:export-pw", "-out", path], check=True, capture_output=True)
now = int(time.time())
c = jwt_claims(TOKEN)
expired = sign_jwt(key, crt, dict(c, iat=now - 7200, nbf=now - 7200, exp=now - 3600))
expfile = os.path.join(TMP, "expired.token")
with open(expfile, "w") as f:
    f.write(expired + "\n")
os.chmod(expfile, 0o600)
rc, out, err = run("--server", URL, "--token-file", expfile, "--server-fingerprint", newfp,
                   "trust", "list")
ok(rc == 2 and "expired" in err and expired[:20] not in err, f"expired token: {rc} {err}")

# logout revokes the token and removes the file
rc, out, err = run("logout", *R)
ok(rc == 0 and "token revoked" in out and not os.path.exists(tokfile), f"logout: {rc} {out} {err}")
with open(tokfile, "w") as f:
    f.write(TOKEN + "\n")
os.chmod(tokfile, 0o600)
rc, out, err = remote("user", "list")
ok(rc == 2 and "revoked" in err, f"revoked token: {rc} {err}")

# ---- holder-of-key ----
cc = make_client_cert("client-a")
other = make_client_cert("client-b")
hok = os.path.join(TMP, "hok.token")
rc, out, err = run("login", "--server", URL, "--user", "admin", "--password-env", "PW",
                   "--server-fingerprint", newfp, "--client-cert", cc[0], "--client-key", cc[1],
                   "-o", hok, env={"PW": a.admin_pw})
ok(rc == 0, f"login with a client certificate: {rc} {err}")
HOK = open(hok).read().strip() if rc == 0 else "x.e30.x"
ok(jwt_claims(HOK).get("cnf", {}).get("x5t#S256"), "the token is bound")
H = ["--server", URL, "--token-file", hok, "--server-fingerprint", newfp]
rc, out, err = run(*H, "--client-cert", cc[0], "--client-key", cc[1], "user", "list")
ok(rc == 0 and "admin" in out, f"bound token with its certificate: {rc} {err}")
rc, out, err = run(*H, "user", "list")
ok(rc == 2 and "client certificate" in err, f"bound token without a certificate: {rc} {err}")
rc, out, err = run(*H, "--client-cert", other[0], "--client-key", other[1], "user", "list")
ok(rc == 2 and "client certificate" in err, f"bound token with another certificate: {rc} {err}")
rc, out, err = run(*H, "--client-key", cc[1], "user", "list")
ok(rc == 2 and "--client-cert" in err, f"--client-key alone: {rc} {err}")

# ---- the canary: argv of a running command, and every output ----
seen = []


def watch(proc):
    while proc.poll() is None:
        try:
            seen.append(open(f"/proc/{proc.pid}/cmdline", "rb").read())
        except OSError:
            pass
        time.sleep(0.001)


for args, env in (((*H, "--client-cert", cc[0], "--client-key", cc[1], "trust", "list"), None),
                  (("--server", URL, "--server-fingerprint", newfp, "--user", "admin",
                    "--password-file", pwfile, "trust", "export"), None)):
    proc = subprocess.Popen([CERTO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, CERTO_CONTAINER="0", **(env or {})))
    t = threading.Thread(target=watch, args=(proc,))
    t.start()
    o, e = proc.communicate()
    t.join()
    OUTPUTS += [o.decode(), e.decode()]
    ok(proc.returncode == 0, f"canary command: {e.decode()}")
ok(len(seen) > 0, "argv was read while the commands ran")
secrets = [a.admin_pw, TOKEN, HOK, "bob-password-1", "bob-password-2", "export-pw-1"]
ok(not any(s.encode() in c for c in seen for s in secrets), "no secret in any argv")
ok(not any(s in o for o in OUTPUTS for s in secrets if s), "no secret in any output")
ok(not any(s in a.log() for s in secrets), "no secret in the server's log")

finish()
