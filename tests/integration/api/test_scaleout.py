# Scale-out (issue 8): two `certo server` processes on one database (SQLite file or
# PostgreSQL) and three gateways polling both; every job is leased and completed exactly
# once, and killing one server process (kill -9) in the middle loses no job: the gateways
# carry on with the other, and a job whose lease died with it is taken again. The gateways
# are this test speaking the job protocol over mutual TLS.
import os
import signal
import subprocess
import threading
import time
import urllib.error

from harness import TMP, Server, finish, ok, req

JOBS = 240
a = Server("so-a", "--job-lease", "5")
b = Server("so-b", "--job-lease", "5", share=a)
admin = a.token()
ok(req(b, "GET", "/auth/whoami", token=admin)[0] == 200, "a token of one process works on the other")


def openssl(*args):
    return subprocess.run(["openssl", *args], check=True, capture_output=True)


O1 = req(a, "POST", "/orgs/", token=admin, body={"name": "Org"})[1]["id"]
gateways = []
for i in range(3):
    name = f"gw{i}"
    srv = (a, b)[i % 2]
    d = req(srv, "POST", "/gateways/", token=admin, body={"name": name})[1]
    key, csr = os.path.join(TMP, name + ".key"), os.path.join(TMP, name + ".csr")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    e = req((b, a)[i % 2], "POST", "/gateways/enroll",
            body={"token": d["enrollToken"], "csr": open(csr).read()})[1]
    crt = os.path.join(TMP, name + ".crt")
    open(crt, "w").write(e["certificate"])
    cert = (crt, key)
    req(a, "POST", "/gateway/sync", cert=cert,
        body={"endpoints": [{"name": f"ep{i}", "type": "pem", "transport": "local"}]})
    gateways.append(cert)
eps = [l["href"].rsplit("/", 1)[1] for l in req(a, "GET", "/endpoints/", token=admin)[1]["link"]]
ok(len(eps) == 3, f"three endpoints synced through both processes: {eps}")
for ep in eps:
    req(b, "PATCH", f"/endpoints/{ep}", token=admin, body={"orgId": O1})

queued = []
for n in range(JOBS):
    st, d, _ = req((a, b)[n % 2], "POST", f"/endpoints/{eps[n % 3]}/restart", token=admin)
    if st == 202:
        queued.append(d["jobId"])
ok(len(queued) == JOBS and len(set(queued)) == JOBS, f"{len(queued)} jobs queued on both")

done = {}  # job id -> how many times a "succeeded" report was accepted
lock = threading.Lock()
stop = threading.Event()
a_dead = threading.Event()


def worker(cert, k):
    servers = [a, b] if k % 2 == 0 else [b, a]
    while not stop.is_set():
        srv = servers[0] if not (a_dead.is_set() and servers[0] is a) else b
        try:
            st, d, _ = req(srv, "GET", "/gateway/jobs/next?wait=1", cert=cert)
            if st != 200:
                continue
            # Some jobs are left hanging while server A dies: they must come back.
            st, _, _ = req(srv, "POST", f"/gateway/jobs/{d['id']}/events", cert=cert,
                           body={"state": "succeeded", "message": "restarted"})
            if st == 200:
                with lock:
                    done[d["id"]] = done.get(d["id"], 0) + 1
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)


threads = [threading.Thread(target=worker, args=(g, k)) for g in gateways for k in range(2)]
for t in threads:
    t.start()
deadline = time.time() + 90
while time.time() < deadline and len(done) < JOBS // 3:
    time.sleep(0.05)
os.kill(a.proc.pid, signal.SIGKILL)  # in the middle of the work
a.proc.wait()
a_dead.set()
while time.time() < deadline and len(done) < JOBS:
    time.sleep(0.2)
stop.set()
for t in threads:
    t.join()
ok(len(done) == JOBS, f"every job completed: {len(done)} of {JOBS}")
ok(all(v == 1 for v in done.values()), "no job completed twice")
ok(set(done) == set(queued), "exactly the queued jobs")
states = {}
start = 0
while True:
    st, d, _ = req(b, "GET", f"/jobs/?maxResult=1000&startIndex={start}", token=admin)
    for l in d["link"]:
        at = {x["name"]: x["value"] for x in l["attributes"]}
        if at["kind"] == "restart":  # each process's embedded gateway also synced once
            states[at["id"]] = at["state"]
    start += len(d["link"])
    if start >= d["total"] or not d["link"]:
        break
ok(len(states) == JOBS and set(states.values()) == {"succeeded"},
   f"the surviving process sees them all succeeded: {set(states.values())}")
ok(b.stop() == 0, "SIGTERM exits 0")
finish()
