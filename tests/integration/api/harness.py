# Shared helpers of the REST API tests: start `certo server` processes on free loopback
# ports in a temporary directory (ended by pid at exit), HTTPS requests with optional
# client certificates, JWT crafting with the `cryptography` module, check counting.
import atexit
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CERTO = os.environ["CERTO"]
TMP = tempfile.mkdtemp(prefix="certo-api-")
_procs = []
_checks = 0
_fails = 0


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)


def ok(cond, desc):
    """One check: counts it, prints the description when it fails."""
    global _checks, _fails
    if cond:
        _checks += 1
    else:
        _fails += 1
        print(f"FAIL: {desc}", file=sys.stderr)
    return cond


def finish():
    if _fails:
        print(f"{_fails} of {_checks + _fails} checks failed", file=sys.stderr)
        sys.exit(1)
    print(f"all {_checks} checks passed")
    sys.exit(0)


def _pg_admin():
    f = os.environ.get("CERTO_TEST_PG_URL_FILE")
    return open(f).read().strip() if f else None


PG_ADMIN = _pg_admin()
_pg_count = [0]


def pg_new_db(name):
    """A new database (UTF8, collation C) on the test cluster; returns its url."""
    _pg_count[0] += 1
    db = f"api_{os.getpid()}_{_pg_count[0]}_{name}".replace("-", "_")
    u = urllib.parse.urlsplit(PG_ADMIN)
    subprocess.run(["psql", "-q", "-h", u.hostname, "-p", str(u.port), "-U", u.username,
                    "-d", u.path.lstrip("/") or "postgres", "-c",
                    f"CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"],
                   check=True, capture_output=True,
                   env=dict(os.environ, PGPASSWORD=urllib.parse.unquote(u.password)))
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query, ""))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def certo(*args, env=None, input=None):
    """Runs the certo CLI; returns (exit code, stdout, stderr)."""
    e = dict(os.environ, CERTO_CONTAINER="0")
    if env:
        e.update(env)
    p = subprocess.run([CERTO, *args], capture_output=True, text=True, env=e, input=input)
    return p.returncode, p.stdout, p.stderr


class Server:
    """One `certo server` in its own data directory."""

    def __init__(self, name, *extra, share=None):
        """'share': another Server whose data directory and database this one uses too
        (several server processes on one database)."""
        self.dir = share.dir if share else os.path.join(TMP, name)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/vco/api"
        self.extra = list(extra)
        self.proc = None
        self.started = share is not None  # a second process: not a first start
        # On PostgreSQL (CERTO_TEST_PG_URL_FILE, set by the CTest fixture "pg"), each server
        # gets a database of its own; its url reaches certo through $CERTO_DB, never argv.
        self.db_url = share.db_url if share else pg_new_db(name) if PG_ADMIN else None
        self.name = name
        self.start()
        cred = open(os.path.join(self.dir, "initial-admin.txt")).read()
        self.admin_pw = cred.split("password: ")[1].strip()

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        first = self.proc is None and not getattr(self, "started", False)
        self.started = True
        self.err_path = os.path.join(TMP, self.name + ".log")
        self.err = open(self.err_path, "a")
        self.proc = subprocess.Popen(
            [CERTO, "server", "--listen", f"127.0.0.1:{self.port}", "--data", self.dir,
             *self.extra],
            stdout=subprocess.PIPE, stderr=self.err, text=True, env=self.env())
        _procs.append(self.proc)
        self.stdout = ""
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.stdout += line
            if "listening on" in line:
                if first:  # the first start names the admin's credentials file too
                    self.stdout += self.proc.stdout.readline()
                return
        raise SystemExit(f"server {self.dir} did not start: {open(self.err_path).read()}")

    def env(self):
        e = dict(os.environ, CERTO_CONTAINER="0")
        if self.db_url:
            e["CERTO_DB"] = self.db_url
        return e

    def cli(self, *args, env=None):
        """certo COMMAND... --data DIR on this server's data (and database)."""
        e = {"CERTO_DB": self.db_url} if self.db_url else {}
        e.update(env or {})
        return certo(*args, "--data", self.dir, env=e)

    def db_bytes(self):
        """Everything the database holds, as stored: the SQLite files, or a pg_dump."""
        if not self.db_url:
            return {f: open(os.path.join(self.dir, f), "rb").read()
                    for f in os.listdir(self.dir) if f.startswith("server.db")}
        u = urllib.parse.urlsplit(self.db_url)
        dump = subprocess.run(["pg_dump", "-h", u.hostname, "-p", str(u.port), "-U", u.username,
                               "-d", u.path.lstrip("/")], capture_output=True, check=True,
                              env=dict(os.environ, PGPASSWORD=urllib.parse.unquote(u.password)))
        return {"pg_dump": dump.stdout}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.proc = None
        return rc

    def log(self):
        return open(self.err_path).read()

    def token(self, user="admin", password=None, cert=None, **extra):
        body = {"grant_type": "password", "username": user,
                "password": password if password is not None else self.admin_pw, **extra}
        st, d, _ = req(self, "POST", "/auth/token", form=body, cert=cert)
        if st != 200:
            raise SystemExit(f"token for {user}: {st} {d}")
        return d["access_token"]


def _ctx(cert):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if cert:
        c.load_cert_chain(cert[0], cert[1])
    return c


def req(server, method, path, body=None, form=None, raw=None, token=None, basic=None,
        headers=None, cert=None, ctype=None):
    """One HTTPS request on a new connection. Returns (status, parsed JSON or text, headers)."""
    url = server.url + path if not path.startswith("https://") else path
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
        if ctype:
            h["Content-Type"] = ctype
    if token:
        h["Authorization"] = "Bearer " + token
    if basic:
        h["Authorization"] = "Basic " + base64.b64encode(
            f"{basic[0]}:{basic[1]}".encode()).decode()
    r = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, context=_ctx(cert), timeout=30) as resp:
            status, text, hdrs = resp.status, resp.read().decode(), resp.headers
    except urllib.error.HTTPError as e:
        status, text, hdrs = e.code, e.read().decode(), e.headers
    try:
        doc = json.loads(text) if text.strip() else None
    except ValueError:
        doc = text
    return status, doc, hdrs


def is_error(doc, code=None, field="any"):
    """True for the API's error shape, with 'code' and 'field' when given."""
    if not isinstance(doc, dict) or set(doc) != {"error"}:
        return False
    e = doc["error"]
    if set(e) != {"code", "message", "field"} or not e["message"]:
        return False
    if code is not None and e["code"] != code:
        return False
    if field != "any" and e["field"] != field:
        return False
    return True


def make_client_cert(name):
    key = os.path.join(TMP, name + ".key")
    crt = os.path.join(TMP, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-subj", "/CN=" + name, "-days", "2"], check=True, capture_output=True)
    return (crt, key)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign_jwt(key_pem_path, cert_pem_path, claims, header_extra=None):
    """An ES256 JWT signed with an EC P-256 key, x5t#S256 of the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = serialization.load_pem_private_key(open(key_pem_path, "rb").read(), None)
    cert = x509.load_pem_x509_certificate(open(cert_pem_path, "rb").read())
    der = cert.public_bytes(serialization.Encoding.DER)
    d = hashes.Hash(hashes.SHA256())
    d.update(der)
    header = {"alg": "ES256", "typ": "JWT", "x5t#S256": b64url(d.finalize())}
    header.update(header_extra or {})
    si = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = key.sign(si.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(sig)
    return si + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jwt_claims(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
