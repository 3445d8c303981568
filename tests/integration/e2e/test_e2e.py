# Issue 8 end to end, through the CLI (and the key flow once more through the REST API): a
# real `certo server`; two gateways, each in its own data directory, created with `certo
# gateway add` and joined with `certo gateway enroll` (pinned); gateway A with a real nginx
# on loopback and a PEM endpoint, gateway B with a PEM endpoint. Sync, delegation,
# discovery, the nodes in the seed's columns (as `certo tls nodes` prints them), an
# inventory certificate installed on nginx by `certo gateway run` (a real TLS client then
# sees it), restart, the jobs' history; the same for gateway B's PEM endpoint through the
# API. An operator of another organization sees and acts on none of it (CLI exit 2, API
# 404). Every process (server, nginx, both `gateway run`) is ended by its pid.
import atexit
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
from harness import CERTO, TMP, Server, _procs, finish, free_port, ok, req  # noqa: E402

FIX = os.environ["CERTO_FIXTURES"]
NGINX = "/usr/sbin/nginx"
if not os.access(NGINX, os.X_OK):
    raise SystemExit(f"nginx is not installed ({NGINX}); make check installs it")
ENV = dict(os.environ, CERTO_CONTAINER="0")
for k in ("CERTO_SERVER", "CERTO_TOKEN_FILE", "CERTO_HOME", "CERTO_SECRET_KEY"):
    ENV.pop(k, None)
OUTPUTS = []  # every output of the CLI, for the secret canary


def certo(*args, env=None):
    p = subprocess.run([CERTO, *args], capture_output=True, text=True, env=env or ENV,
                       stdin=subprocess.DEVNULL)
    OUTPUTS.append(p.stdout + p.stderr)
    return p.returncode, p.stdout, p.stderr


def secret_file(name, text):
    p = os.path.join(TMP, name)
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)
    return p


def one_line(err):
    return len(err.splitlines()) == 1


def sha256_colons(der):
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def cert_fp(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


# ---- the server; the admin logs in with the CLI ----
s = Server("srv", "--job-lease", "30")
URL = f"https://127.0.0.1:{s.port}"
SRV_FP = sha256_colons(ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", s.port))))
PIN = ["--server", URL, "--server-fingerprint", SRV_FP]
admin_pw = secret_file("admin.pw", s.admin_pw)
TOK_ADMIN = os.path.join(TMP, "admin.token")
rc, out, err = certo("login", *PIN, "--user", "admin", "--password-file", admin_pw, "-o", TOK_ADMIN)
ok(rc == 0, f"admin login: {rc} {err}")


def as_user(tok):
    return lambda *a: certo(*PIN, "--token-file", tok, *a)


adm = as_user(TOK_ADMIN)

# ---- organizations and users: an operator of Acme, an operator of Other ----
for args in (("Acme",), ("Acme", "Web"), ("Other",)):
    rc, out, err = adm("org", "add", *args)
    ok(rc == 0, f"org add {args}: {err}")
TOKS = {}
for user, org in (("op", "Acme"), ("eve", "Other")):
    pw = f"{user}-password-e2e-1"
    rc, out, err = certo(*PIN, "--token-file", TOK_ADMIN, "user", "add", user, "--role",
                         "operator", "--org", org, "--password-env", "NEWPW",
                         env=dict(ENV, NEWPW=pw))
    ok(rc == 0, f"user add {user}: {err}")
    TOKS[user] = os.path.join(TMP, user + ".token")
    rc, out, err = certo("login", *PIN, "--user", user, "--password-file",
                         secret_file(user + ".pw", pw), "-o", TOKS[user])
    ok(rc == 0, f"login {user}: {err}")
op = as_user(TOKS["op"])
eve = as_user(TOKS["eve"])

# ---- usage ----
rc, out, err = certo("endpoint", "list")
ok(rc == 2 and one_line(err) and "needs --server" in err, f"no --server: {rc} {err}")
for group in (["job", "list"], ["inventory", "list"], ["gateway", "list"]):
    rc, out, err = certo(*group)
    ok(rc == 2 and "needs --server" in err, f"{group} without --server: {rc} {err}")
rc, out, err = adm("endpoint", "install", "web")
ok(rc == 2 and one_line(err) and "--cert" in err, f"install without --cert: {err}")
rc, out, err = adm("endpoint", "install", "web", "--cert", "x1")
ok(rc == 2 and one_line(err) and "--cert" in err, f"install --cert x1: {err}")
rc, out, err = adm("endpoint", "discover", "web", "--timeout", "5")
ok(rc == 2 and one_line(err) and "--timeout" in err, f"--timeout without --wait: {err}")
rc, out, err = adm("endpoint", "discover", "web", "--wait", "--timeout", "0")
ok(rc == 2 and one_line(err) and "--timeout" in err, f"--timeout 0: {err}")
rc, out, err = adm("job", "show", "abc")
ok(rc == 2 and one_line(err) and "ID" in err, f"job show abc: {err}")
rc, out, err = adm("endpoint", "delegate", "web")
ok(rc == 2 and one_line(err) and "--org" in err, f"delegate without --org: {err}")
rc, out, err = adm("endpoint", "delegate", "web", "--org", "Acme", "--clear")
ok(rc == 2 and one_line(err) and "--clear" in err, f"delegate --org --clear: {err}")
rc, out, err = adm("inventory", "add", "--cert", os.path.join(FIX, "leaf-ec256.crt"))
ok(rc == 2 and one_line(err) and "--key" in err, f"inventory add without --key: {err}")
rc, out, err = adm("inventory", "add", "--cert", os.path.join(FIX, "leaf-ec256.crt"), "--key",
                   os.path.join(FIX, "leaf-ec256.key"), "--key-password", "x")
ok(rc == 2 and one_line(err) and "key-password" in err, f"--key-password on argv: {err}")
rc, out, err = adm("inventory", "show", "0")
ok(rc == 2 and one_line(err) and "ORDER" in err, f"inventory show 0: {err}")
rc, out, err = certo("--server", f"https://127.0.0.1:{free_port()}", "--server-fingerprint",
                     SRV_FP, "--token-file", TOK_ADMIN, "endpoint", "list")
ok(rc == 1 and one_line(err), f"no server there: exit 1: {rc} {err}")
rc, out, err = certo(*PIN, "--token-file", TOK_ADMIN, "gateway", "status")
ok(rc == 2 and one_line(err) and "gateway host" in err, f"--server gateway status: {err}")

# ---- two gateways: created on the server, enrolled with the printed command line ----
GA, GB = os.path.join(TMP, "gw-a"), os.path.join(TMP, "gw-b")
rc, out, err = adm("gateway", "add", "gw-a")
m = re.search(r"shown only this once\):\n  (\S+)\n", out)
ok(rc == 0 and m is not None and f"Server certificate SHA-256: {SRV_FP}" in out,
   f"gateway add gw-a: {rc} {out} {err}")
TOKEN_A = m.group(1) if m else "none"
line = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("certo gateway enroll")]
ok(len(line) == 1 and "--token-file TOKENFILE" in line[0] and f"--server-fingerprint {SRV_FP}"
   in line[0] and "--name-check gw-a" in line[0], f"the enroll command line: {out}")
enroll_a = line[0].split()[1:] if line else []
rc, out, err = adm("gateway", "add", "gw-a")
ok(rc == 2 and one_line(err), f"gateway add twice: exit 2: {rc} {err}")
TF_B = os.path.join(TMP, "gw-b.token")
rc, out, err = adm("gateway", "add", "gw-b", "-o", TF_B)
ok(rc == 0 and os.stat(TF_B).st_mode & 0o777 == 0o600 and f"written to {TF_B}" in out,
   f"gateway add -o: {rc} {out} {err}")
TOKEN_B = open(TF_B).read().strip()
ok(TOKEN_B not in out, "with -o the token is not shown")
line_b = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("certo gateway enroll")]
rc, out, err = op("gateway", "add", "gw-x")
ok(rc == 2 and one_line(err), f"an operator cannot add gateways: {rc} {err}")

TF_A = secret_file("gw-a.token", TOKEN_A)
argv_a = [TF_A if a == "TOKENFILE" else a for a in enroll_a]
rc, out, err = certo(*argv_a, "--data", GA)
ok(rc == 0 and "Enrolled gateway 'gw-a'" in out, f"enroll gw-a as printed: {rc} {out} {err}")
argv_b = line_b[0].split()[1:] if line_b else []
rc, out, err = certo(*argv_b, "--data", GB)
ok(rc == 0 and "Enrolled gateway 'gw-b'" in out, f"enroll gw-b as printed: {rc} {out} {err}")
rc, out, err = adm("gateway", "list")
ok(rc == 0 and re.search(r"gw-a\s+enrolled\s+0", out) and re.search(r"gw-b\s+enrolled", out),
   f"gateway list: {out} {err}")
rc, out, err = adm("gateway", "list", "--json")
ok(rc == 0 and TOKEN_A not in out and TOKEN_B not in out, "the list holds no token")

# ---- material: a leaf for nginx's server_name, signed by the fixtures' intermediate ----
K = os.path.join(TMP, "pki")
os.makedirs(K)


def leaf(name, cn, enc_pw=None):
    key, crt = f"{K}/{name}.key", f"{K}/{name}.crt"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", f"/CN={cn}",
                    "-out", f"{K}/{name}.csr"], check=True, capture_output=True)
    ext = f"{K}/{name}.ext"
    open(ext, "w").write(f"subjectAltName=DNS:{cn}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", f"{K}/{name}.csr", "-CA",
                    f"{FIX}/int.crt", "-CAkey", f"{FIX}/int.key", "-set_serial",
                    str(int.from_bytes(os.urandom(8), "big")), "-days", "30", "-extfile", ext,
                    "-out", crt], check=True, capture_output=True)
    if enc_pw:
        subprocess.run(["openssl", "pkey", "-in", key, "-aes256", "-passout",
                        f"file:{enc_pw}", "-out", f"{K}/{name}.enc.key"], check=True,
                       capture_output=True)
    return crt, key


old_crt, old_key = leaf("old", "e2e.test")
KEYPW = secret_file("key.pw", "key-password-e2e")
new_crt, new_key = leaf("new", "e2e.test", enc_pw=KEYPW)
NEW_FP = cert_fp(new_crt)


def pem_store(name, cn):
    crt, key = leaf(name, cn)
    p = os.path.join(TMP, name + ".pem")
    open(p, "w").write(open(crt).read() + open(key).read())
    os.chmod(p, 0o600)
    return p


PEM_A, PEM_B = pem_store("store-a", "store-a.test"), pem_store("store-b", "store-b.test")

# ---- nginx on loopback in a temp dir, ended by its pid ----
N = os.path.join(TMP, "ngx")
for d in ("logs", "run", "tmp"):
    os.makedirs(os.path.join(N, d))
PN, PH = free_port(), free_port()
CONF = os.path.join(N, "nginx.conf")
open(CONF, "w").write(f"""worker_processes 1;
pid {N}/run/nginx.pid;
error_log {N}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {N}/tmp/body;
    proxy_temp_path {N}/tmp/proxy;
    fastcgi_temp_path {N}/tmp/fastcgi;
    uwsgi_temp_path {N}/tmp/uwsgi;
    scgi_temp_path {N}/tmp/scgi;
    server {{
        listen 127.0.0.1:{PN} ssl;
        server_name e2e.test;
        ssl_certificate {old_crt};
        ssl_certificate_key {old_key};
    }}
    server {{
        listen 127.0.0.1:{PH};
        server_name plain.e2e.test;
        return 200 "plain\\n";
    }}
}}
""")
ngx = subprocess.Popen([NGINX, "-e", f"{N}/logs/error.log", "-c", CONF, "-g", "daemon off;"],
                       stdout=subprocess.DEVNULL, stderr=open(f"{N}/logs/start.log", "w"))


def stop_pid(p, sig, desc):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            return p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"{desc} (pid {p.pid}) did not end: killed", file=sys.stderr)
            p.kill()
            return p.wait()
    return p.returncode


atexit.register(stop_pid, ngx, signal.SIGQUIT, "nginx")  # runs before the harness's cleanup


def served_fp(port, sni):
    """The SHA-256 of the certificate a real TLS client sees, or None."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with c.wrap_socket(raw, server_hostname=sni) as t:
                return sha256_colons(t.getpeercert(binary_form=True))
    except OSError:
        return None


deadline = time.time() + 10
while served_fp(PN, "e2e.test") is None and time.time() < deadline:
    time.sleep(0.1)
ok(served_fp(PN, "e2e.test") == cert_fp(old_crt), "nginx serves the old certificate")

# ---- endpoints on the gateways, synced ----
rc, out, err = certo("tls", "add", "nginx", "--name", "web", "--connection_type", "local",
                     "--nginx_config_path", CONF, "--data", GA)
ok(rc == 0, f"tls add nginx: {err}")
rc, out, err = certo("tls", "add", "pem", "--name", "store-a", "--connection_type", "local",
                     "--path", PEM_A, "--data", GA)
ok(rc == 0, f"tls add pem on A: {err}")
rc, out, err = certo("tls", "add", "pem", "--name", "store-b", "--connection_type", "local",
                     "--path", PEM_B, "--data", GB)
ok(rc == 0, f"tls add pem on B: {err}")
for g, n in ((GA, 2), (GB, 1)):
    rc, out, err = certo("gateway", "sync", "--data", g)
    ok(rc == 0 and f"Synced {n} endpoints" in out, f"gateway sync {g}: {out} {err}")

rc, out, err = adm("endpoint", "list", "--json")
eps = {e["name"]: e for e in json.loads(out)} if rc == 0 else {}
ok(sorted(eps) == ["store-a", "store-b", "web"] and eps["web"]["gateway"] == "gw-a" and
   eps["store-b"]["gateway"] == "gw-b" and eps["web"]["type"] == "nginx" and
   eps["web"]["org"] is None, f"endpoint list --json: {out} {err}")
ID = {n: e["id"] for n, e in eps.items()}
rc, out, err = adm("endpoint", "list")
ok(rc == 0 and re.search(r"^ID\s+Name\s+Type\s+Transport\s+Gateway\s+Organization\s+Department$",
                         out, re.M) and
   re.search(rf"^{ID['web']}\s+web\s+nginx\s+local\s+gw-a \(\d+\)\s+-\s+-$", out, re.M),
   f"endpoint list: {out}")
rc, out, err = op("endpoint", "list")
ok(rc == 0 and out.strip() == "No endpoints.", f"nothing delegated yet: the operator sees none: {out}")

# Discovery needs a delegation first (seed 004).
rc, out, err = adm("endpoint", "discover", "web")
ok(rc == 2 and one_line(err) and "You need to assign an organization or a department to the "
   "endpoint before you can discover nodes" in err, f"discover before delegation: {rc} {err}")

# ---- delegation ----
rc, out, err = adm("endpoint", "delegate", "web", "--org", "Acme")
ok(rc == 0 and "delegated to organization Acme" in out, f"delegate web: {out} {err}")
rc, out, err = adm("endpoint", "delegate", "store-a", "--org", "Acme", "--dept", "Web")
ok(rc == 0 and "department Web" in out, f"delegate store-a to a department: {out} {err}")
rc, out, err = adm("endpoint", "delegate", str(ID["store-b"]), "--org", "Other")
ok(rc == 0, f"delegate store-b by id: {err}")
rc, out, err = adm("endpoint", "delegate", "store-b", "--clear")
ok(rc == 0 and "taken back" in out, f"delegate --clear: {out} {err}")
rc, out, err = adm("endpoint", "delegate", "store-b", "--org", "Acme")
ok(rc == 0, f"delegate store-b: {err}")
rc, out, err = adm("endpoint", "delegate", "web", "--org", "Nope")
ok(rc == 2 and one_line(err) and "Nope" in err, f"delegate to an unknown org: {err}")
rc, out, err = op("endpoint", "delegate", "web", "--org", "Other")
ok(rc == 2 and one_line(err), f"an operator cannot delegate: {rc} {err}")
rc, out, err = op("endpoint", "show", "web")
ok(rc == 0 and "Organization:  Acme" in out and "Gateway:       #" in out and CONF in out,
   f"endpoint show (operator: gateway by id only): {out} {err}")
rc, out, err = adm("endpoint", "show", "store-a", "--json")
d = json.loads(out) if rc == 0 else {}
ok(d.get("org") == "Acme" and d.get("dept") == "Web" and d.get("gateway") == "gw-a",
   f"endpoint show --json: {out}")

# ---- the gateways' daemons, in the background, ended by pid ----
RUN_LOG = {}


def start_run(name, data):
    RUN_LOG[name] = os.path.join(TMP, f"run-{name}.log")
    p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "2", "--data", data],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(RUN_LOG[name], "w"), env=ENV)
    _procs.append(p)
    return p


run_a, run_b = start_run("a", GA), start_run("b", GB)

# ---- discover, nodes ----
rc, out, err = op("endpoint", "discover", "web", "--wait", "--timeout", "60")
ok(rc == 0 and re.search(r"^Job \d+ queued: discover the nodes of 'web'", out, re.M) and
   re.search(r"^Job \d+ succeeded: discovered 2 nodes of 'web'$", out, re.M),
   f"endpoint discover --wait: {rc} {out} {err}")
DISC1 = int(re.search(r"Job (\d+) queued", out).group(1)) if rc == 0 else 0
rc, out, err = op("endpoint", "nodes", "web")
ok(rc == 0 and re.search(r"^Endpoint 'web' \(nginx\): 2 nodes, discovered [0-9-]+T[0-9:]+Z$",
                         out, re.M), f"endpoint nodes: {out} {err}")
ok(re.search(r"^  Name +Alias +Protocol +IP Address +Port +SSL$", out, re.M) is not None,
   f"the seed's columns: {out}")
ok(re.search(rf"^  e2e\.test +- +HTTPS +127\.0\.0\.1 +{PN} +External$", out, re.M) and
   re.search(rf"^  plain\.e2e\.test +- +HTTP +127\.0\.0\.1 +{PH} +-$", out, re.M) and
   re.search(r"^e2e\.test - nginx - serving$", out, re.M), f"the nodes before install: {out}")
# The same view as `certo tls nodes` on the gateway itself (after the summary line).
rc2, local, err2 = certo("tls", "nodes", "web", "--data", GA)
ok(rc2 == 0 and out.split("\n", 1)[1] == local.split("\n", 1)[1],
   f"as `certo tls nodes` prints it:\n--- endpoint nodes\n{out}\n--- tls nodes\n{local}")
rc, out, err = op("endpoint", "nodes", "web", "--json")
d = json.loads(out) if rc == 0 else {}
ok(d.get("endpoint") == "web" and [n["ssl"] for n in d.get("nodes", [])] ==
   ["External", "-"] and d["nodes"][0]["fingerprint"] == cert_fp(old_crt),
   f"endpoint nodes --json: {out}")
rc, out, err = op("endpoint", "nodes", "store-a")
ok(rc == 0 and "not discovered yet" in out, f"nodes before any discovery: {rc} {out} {err}")

# ---- the inventory ----
rc, out, err = op("inventory", "add", "--cert", new_crt, "--chain", f"{FIX}/int.crt", "--key",
                  f"{K}/new.enc.key", "--key-password-file", KEYPW, "--org", "Acme")
m = re.search(r"order number (\d+)", out)
ok(rc == 0 and m and "Subject:       CN=e2e.test" in out and NEW_FP in out and
   "Organization:  Acme" in out, f"inventory add: {rc} {out} {err}")
ORDER = m.group(1) if m else "0"
rc, out, err = op("inventory", "add", "--cert", new_crt, "--key", f"{K}/new.enc.key",
                  "--key-password-file", admin_pw, "--org", "Acme")
ok(rc == 2 and one_line(err) and "password" in err, f"a wrong key password: exit 2: {err}")
rc, out, err = op("inventory", "add", "--cert", new_crt, "--key", old_key, "--org", "Acme")
ok(rc == 2 and one_line(err), f"a key of another certificate: exit 2: {err}")
rc, out, err = op("inventory", "list")
ok(rc == 0 and re.search(rf"^{ORDER}\s+CN=e2e\.test\s+CN=Certo Test Intermediate CA\s+", out,
                         re.M), f"inventory list: {out} {err}")
rc, out, err = op("inventory", "show", ORDER, "--json")
d = json.loads(out) if rc == 0 else {}
ok(d.get("fingerprint") == NEW_FP and "key" not in d, f"inventory show --json: {out}")

# ---- install on nginx; a real TLS client sees it ----
rc, out, err = op("endpoint", "install", "web", "--cert", ORDER, "--wait", "--timeout", "120")
ok(rc == 0 and re.search(r"^Job \d+ succeeded: ", out, re.M), f"endpoint install --wait: {rc} {out} {err}")
INSTALL = int(re.search(r"Job (\d+) queued", out).group(1)) if "queued" in out else 0
got = None
deadline = time.time() + 10
while time.time() < deadline:
    got = served_fp(PN, "e2e.test")
    if got == NEW_FP:
        break
    time.sleep(0.2)
ok(got == NEW_FP, f"nginx serves the inventory certificate: {got}, want {NEW_FP}")

rc, out, err = op("endpoint", "discover", "web", "--wait")
ok(rc == 0, f"discover after install: {err}")
rc, out, err = op("endpoint", "nodes", "web")
ok(rc == 0 and re.search(rf"^  e2e\.test +- +HTTPS +127\.0\.0\.1 +{PN} +{ORDER}$", out, re.M),
   f"the SSL column shows the order number: {out} {err}")
rc, out, err = op("endpoint", "nodes", str(ID["web"]), "--json")
d = json.loads(out) if rc == 0 else {}
ok([n.get("ssl") for n in d.get("nodes", [])][:1] == [ORDER] and
   d["nodes"][0].get("certificateId") == int(ORDER), f"nodes --json by id: {out}")

# ---- restart ----
rc, out, err = op("endpoint", "restart", "web", "--wait")
ok(rc == 0 and re.search(r"^Job \d+ succeeded: restarted 'web'", out, re.M),
   f"endpoint restart --wait: {rc} {out} {err}")
RESTART = int(re.search(r"Job (\d+) queued", out).group(1)) if "queued" in out else 0
ok(served_fp(PN, "e2e.test") == NEW_FP, "still served after the restart")
rc, out, err = op("endpoint", "restart", "store-a")
ok(rc == 0 and re.search(r"^Job \d+ queued: restart 'store-a'", out, re.M) and
   "certo job show" in out, f"restart without --wait: {out} {err}")
RESTART_A = int(re.search(r"Job (\d+) queued", out).group(1)) if "queued" in out else 0
rc, out, err = op("endpoint", "restart", "store-a", "--wait")
ok(rc == 1 and re.search(r"^Job \d+ failed: .*no restart script", out, re.M) and one_line(err) and
   "failed (attempt 1)" in err, f"a failed job: --wait exits 1: {rc} {out} {err}")
rc, out, err = op("endpoint", "discover", "store-a", "--wait")
ok(rc == 0, f"discover store-a: {err}")
rc, out, err = op("endpoint", "nodes", "store-a")
ok(rc == 0 and "Endpoint 'store-a' (pem): 1 node" in out and
   re.search(r" - PEM - stored$", out, re.M), f"nodes of store-a: {out}")

# ---- jobs ----
rc, out, err = op("job", "list")
ok(rc == 0 and re.search(r"^ID\s+Kind\s+State\s+Endpoint\s+Gateway\s+Attempt\s+Updated\s+Message$",
                         out, re.M) and
   re.search(rf"^{INSTALL}\s+install\s+succeeded\s+web \({ID['web']}\)\s+\d+\s+1\s+", out, re.M),
   f"job list: {out} {err}")
rc, out, err = op("job", "list", "--json")
jobs = json.loads(out) if rc == 0 else []
ok({j["kind"] for j in jobs} >= {"discover", "install", "restart"} and
   {j["id"] for j in jobs if j["state"] != "succeeded"} ==
   {j["id"] for j in jobs if j["endpointId"] == ID["store-a"] and j["kind"] == "restart"},
   f"job list --json: {out}")
rc, out, err = op("job", "show", str(RESTART_A))
ok(rc == 0 and "State:     failed (attempt 1)" in out and "no restart script" in out,
   f"job show of the failed restart: {out} {err}")
rc, out, err = op("job", "show", str(INSTALL))
hist = out.split("History:\n", 1)[-1]
ok(rc == 0 and f"Job {INSTALL}: install on endpoint web ({ID['web']})" in out and
   "State:     succeeded (attempt 1)" in out and
   re.search(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  queued ", hist, re.M) and
   re.search(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  succeeded ", hist, re.M),
   f"job show: {out} {err}")
rc, out, err = op("job", "show", str(INSTALL), "--log")
ok(rc == 0 and "Log of the 'succeeded' event" in out, f"job show --log: {out}")
rc, out, err = op("job", "show", str(DISC1), "--json")
d = json.loads(out) if rc == 0 else {}
ok(d.get("kind") == "discover" and [e["state"] for e in d.get("events", [])][-1] == "succeeded"
   and all(isinstance(e["at"], int) for e in d["events"]), f"job show --json: {out}")
rc, out, err = op("job", "show", "999999")
ok(rc == 2 and one_line(err) and "no such job" in err, f"job show of no job: {rc} {err}")

# ---- sync on request (the seed's "Sync Modules") ----
rc, out, err = adm("gateway", "request-sync", "gw-b", "--wait", "--timeout", "60")
ok(rc == 0 and "succeeded" in out, f"gateway request-sync --wait: {rc} {out} {err}")
rc, out, err = op("gateway", "request-sync", "gw-b")
ok(rc == 2 and one_line(err), f"an operator cannot request a sync: {rc} {err}")

# ---- gateway B's PEM endpoint through the REST API ----
tok = s.token()
st, d, _ = req(s, "GET", "/orgs/", token=tok)
ACME = [int(a["value"]) for ln in d["link"] for a in ln["attributes"] if a["name"] == "id" and
        {x["name"]: x["value"] for x in ln["attributes"]}["name"] == "Acme"][0]
pem_b_crt, pem_b_key = leaf("inv-b", "store-b.test")
st, d, _ = req(s, "POST", "/certificates/", token=tok,
               body={"certificate": open(pem_b_crt).read(), "key": open(pem_b_key).read(),
                     "orgId": ACME})
ok(st == 201, f"API: inventory add: {st} {d}")
ORDER_B = d.get("id")


def api_job(jid):
    deadline = time.time() + 60
    while time.time() < deadline:
        st, d, _ = req(s, "GET", f"/jobs/{jid}", token=tok)
        if st != 200 or d["state"] in ("succeeded", "failed"):
            return d
        time.sleep(0.3)
    return d


st, d, _ = req(s, "POST", f"/endpoints/{ID['store-b']}/install", token=tok,
               body={"certificateId": ORDER_B})
ok(st == 202, f"API: install queued: {st} {d}")
jb = api_job(d.get("jobId"))
ok(jb.get("state") == "succeeded", f"API: the install ran on gateway B: {jb}")
ok(cert_fp(PEM_B) == cert_fp(pem_b_crt), "gateway B's PEM file holds the certificate")
st, d, _ = req(s, "POST", f"/endpoints/{ID['store-b']}/discover", token=tok)
jb = api_job(d.get("jobId")) if st == 202 else {}
ok(jb.get("state") == "succeeded", f"API: discover on gateway B: {st} {jb}")
st, d, _ = req(s, "GET", f"/endpoints/{ID['store-b']}/nodes", token=tok)
ok(st == 200 and len(d["nodes"]) == 1 and d["nodes"][0]["ssl"] == str(ORDER_B) and
   d["nodes"][0]["certificateId"] == ORDER_B, f"API: nodes of store-b: {st} {d}")
rc, out, err = op("endpoint", "nodes", "store-b")
ok(rc == 0 and re.search(rf" {ORDER_B}$", out, re.M), f"CLI: the same order number: {out}")

# ---- another organization: nothing to see, nothing to act on ----
rc, out, err = eve("endpoint", "list")
ok(rc == 0 and out.strip() == "No endpoints.", f"eve: endpoint list: {out} {err}")
rc, out, err = eve("job", "list")
ok(rc == 0 and out.strip() == "No jobs.", f"eve: job list: {out} {err}")
rc, out, err = eve("inventory", "list")
ok(rc == 0 and out.strip() == "No certificates.", f"eve: inventory list: {out} {err}")
for args in (("endpoint", "show", "web"), ("endpoint", "show", str(ID["web"])),
             ("endpoint", "nodes", str(ID["web"])), ("endpoint", "discover", str(ID["web"])),
             ("endpoint", "restart", str(ID["web"])),
             ("endpoint", "install", str(ID["web"]), "--cert", ORDER),
             ("endpoint", "delegate", str(ID["web"]), "--org", "Other"),
             ("endpoint", "nodes", str(ID["store-b"])),
             ("job", "show", str(INSTALL)), ("job", "show", str(RESTART)),
             ("inventory", "show", ORDER), ("inventory", "remove", ORDER),
             ("inventory", "show", str(ORDER_B))):
    rc, out, err = eve(*args)
    ok(rc == 2 and one_line(err) and re.search(r"no such|no endpoint named", err),
       f"eve: {' '.join(args)}: exit 2 'no such': {rc} {err}")
etok = s.token("eve", "eve-password-e2e-1")
for method, path, body in (
        ("GET", f"/endpoints/{ID['web']}", None), ("GET", f"/endpoints/{ID['web']}/nodes", None),
        ("POST", f"/endpoints/{ID['web']}/discover", None),
        ("POST", f"/endpoints/{ID['web']}/restart", None),
        ("POST", f"/endpoints/{ID['web']}/install", {"certificateId": int(ORDER)}),
        ("PATCH", f"/endpoints/{ID['web']}", {"orgId": None}),
        ("GET", f"/jobs/{INSTALL}", None), ("GET", f"/certificates/{ORDER}", None),
        ("DELETE", f"/certificates/{ORDER}", None),
        ("GET", f"/endpoints/{ID['store-b']}/nodes", None)):
    st, d, _ = req(s, method, path, token=etok, body=body)
    ok(st == 404, f"eve: API {method} {path}: {st} {d}")
for path in ("/endpoints/", "/jobs/", "/certificates/"):
    st, d, _ = req(s, "GET", path, token=etok)
    ok(st == 200 and d.get("link") == [], f"eve: API list {path}: {st} {d}")
ok(cert_fp(PEM_B) == cert_fp(pem_b_crt) and served_fp(PN, "e2e.test") == NEW_FP,
   "nothing changed on the endpoints")

# ---- inventory remove ----
rc, out, err = op("inventory", "remove", str(ORDER_B))
ok(rc == 0 and "removed" in out, f"inventory remove: {out} {err}")
rc, out, err = op("inventory", "show", str(ORDER_B))
ok(rc == 2 and one_line(err), f"removed: show exits 2: {err}")

# ---- the daemons end by SIGTERM; a revoked gateway is refused ----
for name, p in (("a", run_a), ("b", run_b)):
    rc = stop_pid(p, signal.SIGTERM, f"gateway run {name}")
    text = open(RUN_LOG[name]).read()
    ok(rc == 0 and "msg=stopped" in text, f"gateway run {name}: SIGTERM exits 0: {rc}\n{text}")
rc, out, err = op("endpoint", "restart", "web", "--wait", "--timeout", "1")
ok(rc == 1 and one_line(err) and "still queued after 1 s" in err,
   f"no gateway running: --timeout ends the wait: {rc} {err}")
rc, out, err = adm("gateway", "revoke", "gw-b")
ok(rc == 0 and "revoked" in out, f"gateway revoke: {out} {err}")
rc, out, err = adm("gateway", "list")
ok(re.search(r"gw-b\s+revoked", out) is not None, f"gateway list after revoke: {out}")
rc, out, err = certo("gateway", "status", "--data", GB)
ok(rc == 1 and "revoked" in err, f"status of the revoked gateway: {rc} {err}")
rc, out, err = adm("endpoint", "discover", "store-b")
ok(rc == 2 and one_line(err) and "revoked" in err, f"no jobs for a revoked gateway: {rc} {err}")
rc, out, err = adm("gateway", "revoke", "gw-nope")
ok(rc == 2 and one_line(err) and "gw-nope" in err, f"revoke an unknown gateway: {err}")

# ---- secrets: never in any output except the one `gateway add` that shows its token ----
keys = [open(f).read().strip() for f in (new_key, old_key, pem_b_key)]
leaks = [o for o in OUTPUTS if TOKEN_B in o or any(k in o for k in keys) or
         open(TOKS["op"]).read().strip() in o or s.admin_pw in o or
         "key-password-e2e" in o]
ok(leaks == [], f"no secret in any output: {leaks[:1]}")
ok(sum(TOKEN_A in o for o in OUTPUTS) == 1, "gw-a's token shown once, by gateway add")
ok(stop_pid(ngx, signal.SIGQUIT, "nginx") == 0, "nginx ends on SIGQUIT")
ok(s.stop() == 0, "server SIGTERM exits 0")
finish()
