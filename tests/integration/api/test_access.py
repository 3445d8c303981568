# The access matrix over real HTTPS (docs/server.md, "Access"): each role × each resource ×
# each action, allowed or denied as specified, including another organization's objects
# reached by their IDs (404: their existence is not disclosed) and objects the caller sees
# but may not change (403). Every denied change is checked to have stored nothing.
from harness import Server, finish, is_error, ok, req

s = Server("acl")
admin = s.token()


def post(path, body, tok=admin):
    st, d, _ = req(s, "POST", path, body=body, token=tok)
    if st not in (200, 201):
        raise SystemExit(f"setup {path} {body}: {st} {d}")
    return d


O1 = post("/orgs/", {"name": "Org One"})["id"]
O2 = post("/orgs/", {"name": "Org Two"})["id"]
D1 = post(f"/orgs/{O1}/departments/", {"name": "Dept A"})["id"]
D1B = post(f"/orgs/{O1}/departments/", {"name": "Dept B"})["id"]
D2 = post(f"/orgs/{O2}/departments/", {"name": "Dept X"})["id"]

PW = "password-of-a-user"
people = {
    "orgadmin": {"role": "org-admin", "orgId": O1},
    "deptadmin": {"role": "dept-admin", "orgId": O1, "deptId": D1},
    "operator": {"role": "operator", "orgId": O1, "deptId": D1},
    "orgoperator": {"role": "operator", "orgId": O1},
    "auditor": {"role": "auditor", "orgId": O1},
    "gauditor": {"role": "auditor"},
    "other": {"role": "operator", "orgId": O2, "deptId": D2},
    "otheradmin": {"role": "org-admin", "orgId": O2},
    "peer": {"role": "operator", "orgId": O1, "deptId": D1},
    "d1b": {"role": "operator", "orgId": O1, "deptId": D1B},
}
ids = {"admin": 1}
for name, spec in people.items():
    ids[name] = post("/users/", dict(spec, name=name, password=PW))["id"]
tok = {"admin": admin}
for name in people:
    tok[name] = s.token(name, PW)
ROLES = ["admin", "orgadmin", "deptadmin", "operator", "orgoperator", "auditor", "gauditor",
         "other"]


def names_of(doc):
    return sorted(a["value"] for l in doc["link"] for a in l["attributes"] if a["name"] == "name")


def expect(role, method, path, want, body=None, check=None):
    st, d, _ = req(s, method, path, body=body, token=tok[role])
    good = st == want
    if good and st >= 400:
        good = is_error(d, {403: "forbidden", 404: "not_found"}.get(st))
    if good and check is not None:
        good = check(d)
    ok(good, f"{role} {method} {path} {body or ''}: {st} (want {want}) {d}")
    return d


def row(method, path, wants, body=None):
    """One resource × action for every role: 'wants' maps role → status."""
    for role in ROLES:
        expect(role, method, path, wants[role], body)


ALL = {r: 200 for r in ROLES}


def only(allowed, code_ok, denied):
    return {r: (code_ok if r in allowed else denied[r] if isinstance(denied, dict) else denied)
            for r in ROLES}


# ---- the server's identity and trust store: everyone reads, only admins change ----
row("GET", "/server-cert", ALL)
row("GET", "/trust/", ALL)
row("GET", "/", ALL)
row("GET", "/catalog/System/Workflow/", ALL)
row("GET", "/inventory/System/", ALL)
row("POST", "/server-cert/csr", only({"admin"}, 200, 403), body={})
row("POST", "/server-cert/export-db", only({"admin"}, 200, 403), body={"password": "export-it"})
row("POST", "/server-cert/reload", only({"admin"}, 200, 403))
for role in ROLES[1:]:
    expect(role, "POST", "/server-cert/rotate", 403)
    expect(role, "DELETE", "/server-cert/listener", 403)
    expect(role, "POST", "/server-cert/listener", 403, body={"certificate": "x", "key": "y"})
    expect(role, "POST", "/trust/", 403, body={"certificate": "-----BEGIN CERTIFICATE-----"})
    expect(role, "POST", "/trust/import-url", 403, body={"host": "127.0.0.1", "port": s.port})
ok(req(s, "GET", "/trust/", token=admin)[1]["total"] == 0, "trust store unchanged")

# ---- organizations ----
for role in ROLES:
    want = (["Org One", "Org Two"] if role in ("admin", "gauditor") else
            ["Org Two"] if role == "other" else ["Org One"])
    expect(role, "GET", "/orgs/", 200,
           check=lambda d, w=want: names_of(d) == w and d["total"] == len(w))
row("GET", f"/orgs/{O1}", only({"admin", "orgadmin", "deptadmin", "operator", "orgoperator",
                                 "auditor", "gauditor"}, 200, 404))
row("GET", f"/orgs/{O2}", only({"admin", "gauditor", "other"}, 200, 404))
row("POST", "/orgs/", only({"admin"}, 201, 403), body={"name": "New Org"})
ok(req(s, "GET", "/orgs/", token=admin)[1]["total"] == 3, "one organization added (by admin)")
row("PUT", f"/orgs/{O1}", only({"admin"}, 200, {**{r: 403 for r in ROLES}, "other": 404}),
    body={"name": "Org One"})
row("DELETE", f"/orgs/{O2}", only({"admin"}, 409, {**{r: 404 for r in ROLES}, "gauditor": 403,
                                                   "other": 403}))
ok(req(s, "GET", f"/orgs/{O2}", token=admin)[0] == 200, "org two still there")

# ---- departments ----
for role, want in (("admin", ["Dept A", "Dept B"]), ("orgadmin", ["Dept A", "Dept B"]),
                   ("deptadmin", ["Dept A"]), ("operator", ["Dept A"]),
                   ("orgoperator", ["Dept A", "Dept B"]), ("auditor", ["Dept A", "Dept B"]),
                   ("gauditor", ["Dept A", "Dept B"])):
    expect(role, "GET", f"/orgs/{O1}/departments/", 200, check=lambda d, w=want: names_of(d) == w)
expect("other", "GET", f"/orgs/{O1}/departments/", 404)
row("GET", f"/departments/{D2}", only({"admin", "gauditor", "other"}, 200, 404))
row("GET", f"/departments/{D1B}", only({"admin", "orgadmin", "orgoperator", "auditor",
                                         "gauditor"}, 200, 404))
for role in ROLES:
    expect(role, "POST", f"/orgs/{O1}/departments/",
           201 if role in ("admin", "orgadmin") else 404 if role == "other" else 403,
           body={"name": "Dept by " + role})
ok(req(s, "GET", f"/orgs/{O1}/departments/", token=admin)[1]["total"] == 4,
   "exactly the two allowed department creations stored")
expect("orgadmin", "POST", f"/orgs/{O2}/departments/", 404, body={"name": "Sneaky"})
row("PUT", f"/departments/{D1}", only({"admin", "orgadmin"}, 200,
                                       {**{r: 403 for r in ROLES}, "other": 404}),
    body={"name": "Dept A"})
expect("orgadmin", "DELETE", f"/departments/{D2}", 404)
expect("deptadmin", "DELETE", f"/departments/{D1}", 403)

# ---- users: listings are narrowed to the caller's scope ----
o1 = sorted(["orgadmin", "deptadmin", "operator", "orgoperator", "auditor", "peer", "d1b"])
d1 = sorted(["deptadmin", "operator", "peer"])
everyone = sorted(["admin", *people])
for role, want in (("admin", everyone), ("gauditor", everyone), ("orgadmin", o1),
                   ("deptadmin", d1), ("auditor", o1), ("operator", ["operator"]),
                   ("orgoperator", ["orgoperator"]), ("other", ["other"])):
    expect(role, "GET", "/users/?maxResult=1000", 200, check=lambda d, w=want: names_of(d) == w)
row("GET", f"/users/{ids['other']}", only({"admin", "gauditor", "other"}, 200, 404))
row("GET", f"/users/{ids['peer']}", only({"admin", "gauditor", "orgadmin", "deptadmin",
                                           "auditor"}, 200, 404))
row("GET", f"/users/{ids['admin']}", only({"admin", "gauditor"}, 200, 404))

# ---- users: who may create whom ----
n = [0]


def new_user(spec):
    n[0] += 1
    return dict(spec, name=f"new{n[0]}", password=PW)


for role in ROLES:
    expect(role, "POST", "/users/", 201 if role in ("admin", "orgadmin", "deptadmin") else 403,
           body=new_user({"role": "operator", "orgId": O1, "deptId": D1}))
for role, want in (("admin", 201), ("orgadmin", 403), ("deptadmin", 403), ("operator", 403)):
    expect(role, "POST", "/users/", want, body=new_user({"role": "admin"}))
for role, want in (("admin", 201), ("orgadmin", 403), ("deptadmin", 403), ("otheradmin", 201)):
    expect(role, "POST", "/users/", want, body=new_user({"role": "operator", "orgId": O2}))
for role, want in (("orgadmin", 201), ("deptadmin", 403)):
    expect(role, "POST", "/users/", want, body=new_user({"role": "org-admin", "orgId": O1}))
for role, want in (("orgadmin", 201), ("deptadmin", 403)):
    expect(role, "POST", "/users/", want,
           body=new_user({"role": "operator", "orgId": O1, "deptId": D1B}))
before = req(s, "GET", "/users/?maxResult=1000", token=admin)[1]["total"]
ok(before == 1 + len(people) + 3 + 1 + 2 + 1 + 1, f"only the allowed users were stored: {before}")

# ---- users: who may change or remove whom ----
row("PATCH", f"/users/{ids['peer']}", only({"admin", "orgadmin", "deptadmin"}, 200,
                                            {**{r: 404 for r in ROLES}, "auditor": 403,
                                             "gauditor": 403}),
    body={"disabled": False})
row("PATCH", f"/users/{ids['other']}", only({"admin"}, 200, {**{r: 404 for r in ROLES},
                                                            "gauditor": 403, "other": 403}),
    body={"disabled": False})
expect("orgadmin", "PATCH", f"/users/{ids['orgadmin']}", 403, body={"role": "admin"})
expect("deptadmin", "PATCH", f"/users/{ids['peer']}", 403, body={"role": "org-admin"})
expect("deptadmin", "PATCH", f"/users/{ids['d1b']}", 404, body={"disabled": True})
expect("orgadmin", "PATCH", f"/users/{ids['d1b']}", 200, body={"disabled": True},
       check=lambda d: d["disabled"])
st, d, _ = req(s, "GET", "/auth/whoami", token=tok["d1b"])
ok(st == 401, "a disabled user's token stops working")
expect("orgadmin", "DELETE", f"/users/{ids['other']}", 404)
expect("auditor", "DELETE", f"/users/{ids['peer']}", 403)
expect("operator", "DELETE", f"/users/{ids['peer']}", 404)
expect("deptadmin", "DELETE", f"/users/{ids['peer']}", 204)
expect("admin", "DELETE", f"/users/{ids['admin']}", 409)
ok(req(s, "GET", f"/users/{ids['other']}", token=admin)[0] == 200, "other org's user kept")

# ---- passwords: self with the current one, managers without ----
st, d, _ = req(s, "POST", f"/users/{ids['operator']}/password", token=tok["operator"],
               body={"password": "a-new-password"})
ok(st == 400 and is_error(d, "missing_field", "currentPassword"), f"self without current: {d}")
st, d, _ = req(s, "POST", f"/users/{ids['other']}/password", token=tok["orgadmin"],
               body={"password": "hijacked-password"})
ok(st == 404, f"another org's user's password: {st}")
st, _, _ = req(s, "POST", f"/users/{ids['operator']}/password", token=tok["deptadmin"],
               body={"password": "reset-by-manager"})
ok(st == 204, "a dept-admin resets a member's password")

# ---- tokens: one's own; an admin's view of all ----
expect("auditor", "GET", f"/auth/tokens/?userId={ids['admin']}", 403)
expect("admin", "GET", f"/auth/tokens/?userId={ids['auditor']}", 200,
       check=lambda d: d["total"] >= 1)
jti = req(s, "GET", "/auth/tokens/", token=tok["auditor"])[1]["link"][0]["href"].rsplit("/", 1)[1]
expect("gauditor", "DELETE", f"/auth/tokens/{jti}", 404)
expect("admin", "GET", f"/auth/tokens/{jti}", 200)

# ---- last: an admin rotates the identity; every token of the old key ends ----
expect("admin", "POST", "/server-cert/rotate", 200)
st, _, _ = req(s, "GET", "/auth/whoami", token=tok["orgadmin"])
ok(st == 401, "tokens of the old identity end with a rotation")
ok(s.stop() == 0, "SIGTERM exits 0")
finish()
