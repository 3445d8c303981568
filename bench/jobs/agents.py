# SPDX-License-Identifier: Apache-2.0
# bench/jobs, end to end: jobs per second server -> `certo gateway run` -> PEM endpoint.
#
# For 1, 2 and 4 real gateway daemons, each enrolled in a data directory of its own with one
# PEM endpoint (certificate and key in one file), BENCH_INSTALLS install jobs (default 200)
# of one inventory certificate are queued round-robin over the endpoints, and the time until
# the last one succeeded is measured. Each install is the whole transaction: plan, journal,
# stage, swap, verify, commit, each file written durably (fsync), on a gateway that runs one
# job at a time. Run through bench/jobs/run.sh.
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration",
                                "api"))
from harness import CERTO, TMP, Server, _procs, req  # noqa: E402

INSTALLS = int(os.environ.get("BENCH_INSTALLS", "200"))
LABEL = os.environ.get("BENCH_LABEL", "sqlite")
ENV = dict(os.environ, CERTO_CONTAINER="0")


def run(*args):
    p = subprocess.run([CERTO, *args], capture_output=True, text=True, env=ENV)
    if p.returncode != 0:
        raise SystemExit(f"certo {' '.join(args[:3])}: {p.stderr}")
    return p.stdout


def pem_pair(name):
    key, crt = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-subj",
                    "/CN=" + name, "-days", "30"], check=True, capture_output=True)
    return crt, key


rows = []
for n_gw in (1, 2, 4):
    s = Server(f"{LABEL}-agents-{n_gw}", "--no-local-gateway")
    admin = s.token(expires_in=28800)
    org = req(s, "POST", "/orgs/", token=admin, body={"name": "Bench"})[1]["id"]
    daemons = []
    for i in range(n_gw):
        name = f"gw{i}"
        data = os.path.join(TMP, f"{LABEL}-{n_gw}-{name}")
        os.makedirs(data, mode=0o700)
        d = req(s, "POST", "/gateways/", token=admin, body={"name": name})[1]
        tf = os.path.join(data, "token")
        with open(tf, "w") as f:
            f.write(d["enrollToken"] + "\n")
        run("gateway", "enroll", "--server", s.url, "--token-file", tf, "--server-fingerprint",
            d["serverFingerprint"], "--data", data)
        crt, key = pem_pair(f"{LABEL}-{n_gw}-{name}")
        target = os.path.join(data, "site.pem")
        with open(target, "w") as f:
            f.write(open(crt).read() + open(key).read())
        os.chmod(target, 0o600)
        run("tls", "add", "pem", "--name", f"site-{name}", "--connection_type", "local", "--path",
            target, "--data", data)
        run("gateway", "sync", "--data", data)
        p = subprocess.Popen([CERTO, "gateway", "run", "--wait", "5", "--data", data],
                             stderr=subprocess.DEVNULL, env=ENV)
        _procs.append(p)
        daemons.append(p)
    eps = [l["href"].rsplit("/", 1)[1] for l in req(s, "GET", "/endpoints/", token=admin)[1]["link"]]
    for ep in eps:
        req(s, "PATCH", f"/endpoints/{ep}", token=admin, body={"orgId": org})
    crt, key = pem_pair(f"{LABEL}-{n_gw}-new")
    cid = req(s, "POST", "/certificates/", token=admin,
              body={"certificate": open(crt).read(), "key": open(key).read(),
                    "orgId": org})[1]["id"]
    t0 = time.time()
    jobs = []
    for k in range(INSTALLS):
        d = req(s, "POST", f"/endpoints/{eps[k % len(eps)]}/install", token=admin,
                body={"certificateId": cid})[1]
        jobs.append(d["jobId"])
    succeeded = failed = 0
    deadline = time.time() + 1800
    while time.time() < deadline:
        d = req(s, "GET", f"/jobs/?maxResult=1000", token=admin)[1]
        states = [a["value"] for l in d["link"] for a in l["attributes"] if a["name"] == "state"]
        succeeded, failed = states.count("succeeded"), states.count("failed")
        if succeeded + failed >= INSTALLS:
            break
        time.sleep(0.2)
    elapsed = time.time() - t0
    rows.append((n_gw, succeeded, failed, elapsed))
    for p in daemons:
        p.send_signal(signal.SIGTERM)
    for p in daemons:
        p.wait(timeout=30)
    s.stop()

print(f"\n{LABEL}: {INSTALLS} install jobs, server -> `certo gateway run` -> PEM endpoint")
print("| database | gateways | succeeded | failed | jobs/s | time |")
print("|---|---:|---:|---:|---:|---:|")
for n_gw, ok_, bad, el in rows:
    print(f"| {LABEL} | {n_gw} | {ok_} | {bad} | {ok_ / el:,.1f} | {el:.1f} s |")
