# SPDX-License-Identifier: Apache-2.0
# bench/jobs: the job queue between `certo server` and its gateways (issue 8).
#
# For 1, 2 and 4 gateways: queue BENCH_JOBS restart jobs (default 10,000) through the API,
# then drain the queue with BENCH_WORKERS pollers per gateway, each on its own keep-alive
# mutual-TLS connection speaking the gateway protocol (GET /gateway/jobs/next, POST
# /gateway/jobs/{id}/events succeeded): jobs per second through the queue and the time to
# drain it. Then BENCH_HELD (default 300) pollers across the gateways lease a job each and
# hold it, to show that many jobs run at once. The pollers do no endpoint work, so this
# measures the server's queue; `certo gateway run` adds each job's own work on top.
# Run through bench/jobs/run.sh, which picks the binary and the database.
import http.client
import json
import os
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration",
                                "api"))
from harness import TMP, Server, req  # noqa: E402

JOBS = int(os.environ.get("BENCH_JOBS", "10000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "8"))
HELD = int(os.environ.get("BENCH_HELD", "300"))
LABEL = os.environ.get("BENCH_LABEL", "sqlite")


class Conn:
    """One keep-alive HTTPS connection presenting a gateway's client certificate."""

    def __init__(self, server, cert):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(*cert)
        self.c = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Content-Type": "application/json"} if data else {}
        self.c.request(method, "/vco/api" + path, body=data, headers=hdrs)
        r = self.c.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text.strip() else None)


def enroll(server, admin, name):
    d = req(server, "POST", "/gateways/", token=admin, body={"name": name})[1]
    key, csr = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj",
                    "/CN=" + name], check=True, capture_output=True)
    e = req(server, "POST", "/gateways/enroll",
            body={"token": d["enrollToken"], "csr": open(csr).read()})[1]
    crt = os.path.join(TMP, name + ".crt")
    open(crt, "w").write(e["certificate"])
    cert = (crt, key)
    req(server, "POST", "/gateway/sync", cert=cert,
        body={"endpoints": [{"name": "ep-" + name, "type": "pem", "transport": "local"}]})
    return cert


def queue(server, admin, eps, n):
    """Queues n restart jobs round-robin over the endpoints on 4 keep-alive connections."""
    count = [0]
    lock = threading.Lock()

    def q(k):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=60)
        for i in range(k, n, 4):
            c.request("POST", f"/vco/api/endpoints/{eps[i % len(eps)]}/restart",
                      headers={"Authorization": "Bearer " + admin})
            r = c.getresponse()
            r.read()
            if r.status == 202:
                with lock:
                    count[0] += 1

    threads = [threading.Thread(target=q, args=(k,)) for k in range(4)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0], time.time() - t0


def drain(server, certs, n):
    done = [0]
    lock = threading.Lock()
    finished = threading.Event()

    def work(cert):
        c = Conn(server, cert)
        while not finished.is_set():
            st, d = c.call("GET", "/gateway/jobs/next?wait=1")
            if st != 200:
                continue
            st, _ = c.call("POST", f"/gateway/jobs/{d['id']}/events",
                           {"state": "succeeded", "message": "done"})
            with lock:
                done[0] += st == 200
                if done[0] >= n:
                    finished.set()

    threads = [threading.Thread(target=work, args=(c,)) for c in certs for _ in range(WORKERS)]
    t0 = time.time()
    for t in threads:
        t.start()
    finished.wait(timeout=1800)
    elapsed = time.time() - t0
    finished.set()
    for t in threads:
        t.join()
    return done[0], elapsed


def held_at_once(server, admin, certs, eps):
    queue(server, admin, eps, HELD)
    leased = []
    lock = threading.Lock()
    barrier = threading.Barrier(HELD + 1, timeout=300)

    def hold(cert):
        c = Conn(server, cert)
        st, d = c.call("GET", "/gateway/jobs/next?wait=10")
        with lock:
            if st == 200:
                leased.append(d["id"])
        barrier.wait()  # every poller holds its job here, at the same time
        barrier.wait()  # released: report
        if st == 200:
            c.call("POST", f"/gateway/jobs/{d['id']}/events", {"state": "succeeded"})

    threads = [threading.Thread(target=hold, args=(certs[i % len(certs)],))
               for i in range(HELD)]
    for t in threads:
        t.start()
    barrier.wait()
    running = 0
    start = 0
    while True:
        d = req(server, "GET", f"/jobs/?maxResult=1000&startIndex={start}", token=admin)[1]
        running += sum(1 for l in d["link"] for a in l["attributes"]
                       if a["name"] == "state" and a["value"] in ("leased", "running"))
        start += len(d["link"])
        if start >= d["total"] or not d["link"]:
            break
    barrier.wait()
    for t in threads:
        t.join()
    return len(set(leased)), running


rows = []
for n_gw in (1, 2, 4):
    s = Server(f"{LABEL}-{n_gw}gw")
    admin = s.token(expires_in=28800)
    certs = [enroll(s, admin, f"gw{i}") for i in range(n_gw)]
    org = req(s, "POST", "/orgs/", token=admin, body={"name": "Bench"})[1]["id"]
    eps = [l["href"].rsplit("/", 1)[1] for l in req(s, "GET", "/endpoints/", token=admin)[1]["link"]]
    for ep in eps:
        req(s, "PATCH", f"/endpoints/{ep}", token=admin, body={"orgId": org})
    queued, tq = queue(s, admin, eps, JOBS)
    done, td = drain(s, certs, queued)
    row = {"db": LABEL, "gateways": n_gw, "pollers": n_gw * WORKERS, "queued": queued,
           "queue_s": tq, "done": done, "drain_s": td}
    if n_gw == 4:
        row["held"], row["seen_running"] = held_at_once(s, admin, certs, eps)
    rows.append(row)
    s.stop()

print(f"\n{LABEL}: {JOBS} jobs queued through the API, then drained by {WORKERS} pollers per "
      "gateway (mutual TLS, keep-alive)")
print("| database | gateways | pollers | queued/s | drained | jobs/s | drain time |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['db']} | {r['gateways']} | {r['pollers']} | {r['queued'] / r['queue_s']:,.0f} | "
          f"{r['done']:,} of {r['queued']:,} | {r['done'] / r['drain_s']:,.0f} | "
          f"{r['drain_s']:.1f} s |")
for r in rows:
    if "held" in r:
        print(f"{r['db']}, 4 gateways: {r['held']} of {HELD} pollers held a job at once; the API "
              f"listed {r['seen_running']} jobs leased or running at that moment")
