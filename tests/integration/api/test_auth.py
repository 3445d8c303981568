# Authentication and tokens over real HTTPS (issue 7): first-start credentials, password
# and Basic logins, token issue / expiry / revocation, holder-of-key refusal with another
# client certificate, delegate tokens (RFC 8693), an external issuer (SSO), bad input
# with JSON errors and nothing stored, and the secret canary (no password, token or key
# in logs, error bodies or the database).
import os
import stat
import subprocess
import time

from harness import (TMP, Server, finish, is_error, jwt_claims,
                     make_client_cert, ok, req, sign_jwt)

a = Server("a")
U = a.url

# ---- first start ----
cred = os.path.join(a.dir, "initial-admin.txt")
ok(stat.S_IMODE(os.stat(cred).st_mode) == 0o600, "initial-admin.txt is 0600")
ok(f"{a.dir}/initial-admin.txt" in a.stdout, f"stdout names the credentials file: {a.stdout!r}")
ok(a.admin_pw not in a.stdout and a.admin_pw not in a.log(), "the password is printed nowhere")

# ---- no credentials ----
st, d, h = req(a, "GET", "/catalog/System/Workflow/")
ok(st == 401 and is_error(d, "unauthorized", None), f"no token: {st} {d}")
ok(any(v.startswith("Bearer") for v in h.get_all("WWW-Authenticate")), "WWW-Authenticate Bearer")
st, d, _ = req(a, "GET", "/auth/")
ok(st == 200 and d["issuer"].startswith("urn:certo:server:") and d["modes"] == ["password"],
   f"auth info: {d}")
st, d, _ = req(a, "GET", "/docs/openapi.json")
ok(st == 200 and d["openapi"].startswith("3.") and "/auth/token" in d["paths"] and
   "/users/{id}" in d["paths"] and "post" in d["paths"]["/auth/token"], "OpenAPI document")

# ---- password login ----
st, d, _ = req(a, "POST", "/auth/token",
               form={"grant_type": "password", "username": "admin", "password": a.admin_pw})
ok(st == 200 and d["token_type"] == "Bearer" and d["expires_in"] == 900 and not d["bound"],
   f"password grant: {st} {d}")
tok = d["access_token"]
c = jwt_claims(tok)
ok(c["sub"] == "admin" and c["exp"] - c["iat"] == 900 and c["aud"] == c["iss"] and
   len(c["jti"]) == 32 and "cnf" not in c, f"claims: {c}")
st, d, _ = req(a, "POST", "/auth/token",
               body={"grant_type": "password", "username": "admin", "password": a.admin_pw,
                     "expires_in": 120})
ok(st == 200 and d["expires_in"] == 120, f"JSON body, expires_in: {st} {d}")
st, d, _ = req(a, "GET", "/catalog/System/Workflow/", token=tok)
ok(st == 200 and d == {"link": [], "total": 0, "start": 0}, f"catalog with token: {d}")
st, d, _ = req(a, "GET", "/catalog/System/Workflow/", basic=("admin", a.admin_pw))
ok(st == 200 and d["total"] == 0, "Basic login")
st, d, _ = req(a, "GET", "/auth/whoami", basic=("admin", "wrong-password"))
ok(st == 401 and is_error(d, "unauthorized") and "wrong-password" not in str(d), f"Basic wrong: {d}")
st, d, _ = req(a, "GET", "/auth/whoami", headers={"Authorization": "Basic !!!"})
ok(st == 401 and is_error(d, "unauthorized"), "malformed Basic")

# ---- wrong credentials: one answer, no echo ----
for user, pw in (("admin", "not-the-password"), ("nobody", "not-the-password")):
    st, d, _ = req(a, "POST", "/auth/token",
                   form={"grant_type": "password", "username": user, "password": pw})
    ok(st == 400 and is_error(d, "invalid_grant") and
       d["error"]["message"] == "wrong user name or password" and pw not in str(d),
       f"wrong login {user}: {st} {d}")

# ---- bad input: 4xx with a JSON error naming the field, nothing stored ----
users_before = req(a, "GET", "/users/", token=tok)[1]["total"]
bad = [
    ("malformed JSON", dict(raw='{"name": ', ctype="application/json"), 400, "malformed", None),
    ("not an object", dict(raw='[1,2]', ctype="application/json"), 400, "malformed", None),
    ("duplicate key", dict(raw='{"name":"x","name":"y","role":"admin"}', ctype="application/json"),
     400, "malformed", None),
    ("wrong type", dict(body={"name": 5, "role": "admin"}), 400, "wrong_type", "name"),
    ("unknown field", dict(body={"name": "x1", "role": "admin", "colour": "red"}), 400,
     "unknown_field", "colour"),
    ("missing field", dict(body={"role": "admin"}), 400, "missing_field", "name"),
    ("bad role", dict(body={"name": "x2", "role": "boss"}), 400, "invalid", "role"),
    ("bad name", dict(body={"name": "x y", "role": "admin"}), 400, "invalid", "name"),
    ("form body", dict(form={"name": "x3"}), 415, "unsupported_media_type", None),
    ("admin with org", dict(body={"name": "x4", "role": "admin", "orgId": 1}), 400, "invalid",
     "orgId"),
    ("short password", dict(body={"name": "x5", "role": "admin", "password": ""}), 400,
     "invalid", "password"),
]
for desc, kw, code, ecode, field in bad:
    st, d, _ = req(a, "POST", "/users/", token=tok, **kw)
    ok(st == code and is_error(d, ecode, field), f"{desc}: {st} {d}")
st, d, _ = req(a, "POST", "/users/", token=tok, raw=b'{"name":"' + b"x" * (2 << 20) + b'"}',
               ctype="application/json")
ok(st == 413, f"oversize body: {st}")
ok(req(a, "GET", "/users/", token=tok)[1]["total"] == users_before, "nothing stored")
# A body that does not parse: the error names the position, never the text near it (which
# can be a password).
st, d, _ = req(a, "POST", "/auth/token", raw='{"grant_type": "password", "password": "sekret-'
               'fragment-77', ctype="application/json")
ok(st == 400 and is_error(d, "malformed") and "sekret" not in str(d) and
   "column" in d["error"]["message"], f"malformed JSON echoes nothing: {d}")
for desc, form, field in (
        ("no grant_type", {"username": "admin"}, "grant_type"),
        ("bad grant_type", {"grant_type": "client_credentials"}, "grant_type"),
        ("expires_in too long", {"grant_type": "password", "username": "admin",
                                 "password": a.admin_pw, "expires_in": "99999"}, "expires_in"),
        ("actor_token", {"grant_type": "password", "actor_token": "x"}, "actor_token"),
        ("unknown form field", {"grant_type": "password", "evil": "1"}, "evil")):
    st, d, _ = req(a, "POST", "/auth/token", form=form)
    ok(st == 400 and is_error(d, field=field), f"token {desc}: {st} {d}")
st, d, _ = req(a, "GET", "/users/?maxResult=0", token=tok)
ok(st == 400 and is_error(d, "invalid", "maxResult"), f"maxResult 0: {d}")
st, d, _ = req(a, "GET", "/users/?startIndex=-1", token=tok)
ok(st == 400 and is_error(d, "invalid", "startIndex"), f"startIndex -1: {d}")
st, d, _ = req(a, "GET", "/users/abc", token=tok)
ok(st == 404 and is_error(d, "not_found"), "non-numeric id")
st, d, _ = req(a, "PATCH", "/auth/token", token=tok)
ok(st == 405 and is_error(d, "method_not_allowed"), "405")

# ---- bad tokens ----
b = Server("b")
tok_b = b.token()
head, body_, sig = tok.split(".")
flipped = head + "." + body_ + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
none_tok = "eyJhbGciOiJub25lIn0." + body_ + "."
for desc, t, want in (("garbage", "garbage", None), ("flipped signature", flipped, None),
                      ("alg none", none_tok, None),
                      ("another server's token", tok_b, "unknown issuer"),
                      ("oversize", "a" * 9000, None)):
    st, d, _ = req(a, "GET", "/auth/whoami", token=t)
    ok(st == 401 and is_error(d, "invalid_token") and (want is None or want in d["error"]["message"])
       and t[:40] not in d["error"]["message"], f"{desc}: {st} {d}")

# ---- expiry: a token of this server's key whose time is over ----
p12 = os.path.join(TMP, "a.p12")
rc, _, err = a.cli("server-cert", "export-db", "--out", p12, "--password-env", "P",
                   env={"P": "export-pw"})
ok(rc == 0, f"export-db: {err}")
subprocess.run(["openssl", "pkcs12", "-in", p12, "-nocerts", "-nodes", "-passin",
                "pass:export-pw", "-out", os.path.join(TMP, "a.key")], check=True,
               capture_output=True)
subprocess.run(["openssl", "pkcs12", "-in", p12, "-clcerts", "-nokeys", "-passin",
                "pass:export-pw", "-out", os.path.join(TMP, "a.crt")], check=True,
               capture_output=True)
now = int(time.time())
expired = sign_jwt(os.path.join(TMP, "a.key"), os.path.join(TMP, "a.crt"),
                   dict(c, iat=now - 7200, nbf=now - 7200, exp=now - 3600))
st, d, _ = req(a, "GET", "/auth/whoami", token=expired)
ok(st == 401 and is_error(d, "invalid_token") and "expired" in d["error"]["message"],
   f"expired token: {st} {d}")
forged = sign_jwt(os.path.join(TMP, "a.key"), os.path.join(TMP, "a.crt"),
                  dict(c, jti="0" * 32))
st, d, _ = req(a, "GET", "/auth/whoami", token=forged)
ok(st == 401 and "unknown token" in d["error"]["message"], f"unrecorded jti: {d}")

# ---- revocation ----
t2 = a.token()
st, d, _ = req(a, "GET", "/auth/tokens/", token=t2)
ok(st == 200 and d["total"] >= 2 and any(l["href"].endswith(jwt_claims(t2)["jti"])
                                        for l in d["link"]), f"token list: {d}")
st, _, _ = req(a, "DELETE", "/auth/tokens/current", token=t2)
ok(st == 204, f"revoke current: {st}")
st, d, _ = req(a, "GET", "/auth/whoami", token=t2)
ok(st == 401 and "revoked" in d["error"]["message"], f"revoked token refused: {d}")
st, d, _ = req(a, "GET", "/auth/whoami", token=tok)
ok(st == 200, "other tokens still work")

# ---- users for the rest ----
st, d, _ = req(a, "POST", "/orgs/", token=tok, body={"name": "Acme"})
org = d["id"]
for name, pw in (("bob", "bob-password-1"), ("carol", "carol-password-1")):
    st, d, _ = req(a, "POST", "/users/", token=tok,
                   body={"name": name, "role": "operator", "orgId": org, "password": pw})
    ok(st == 201 and d["name"] == name and d["hasPassword"], f"add {name}: {st} {d}")
bob_tok = a.token("bob", "bob-password-1")
st, d, _ = req(a, "GET", "/users/", token=bob_tok)
bob_id = d["link"][0]["attributes"][0]["value"] if d["total"] else 0
st, _, _ = req(a, "POST", f"/users/{bob_id}/password", token=bob_tok,
               body={"password": "bob-password-2", "currentPassword": "bob-password-1"})
ok(st == 204, f"own password change: {st}")
st, d, _ = req(a, "GET", "/auth/whoami", token=bob_tok)
ok(st == 401 and "revoked" in d["error"]["message"], "password change revokes tokens")
st, d, _ = req(a, "POST", f"/users/{bob_id}/password", token=a.token("bob", "bob-password-2"),
               body={"password": "bob-password-3", "currentPassword": "wrong"})
ok(st == 400 and is_error(d, "invalid", "currentPassword"), f"wrong current password: {d}")

# ---- holder-of-key (RFC 8705) ----
cert1, cert2 = make_client_cert("client1"), make_client_cert("client2")
st, d, _ = req(a, "POST", "/auth/token", cert=cert1,
               form={"grant_type": "password", "username": "bob", "password": "bob-password-2"})
ok(st == 200 and d["bound"], f"bound token: {d}")
hok = d["access_token"]
ok("x5t#S256" in jwt_claims(hok).get("cnf", {}), "cnf x5t#S256 claim")
st, d, _ = req(a, "GET", "/auth/whoami", token=hok, cert=cert1)
ok(st == 200 and d["bound"] and d["name"] == "bob", f"with its certificate: {d}")
st, d, _ = req(a, "GET", "/auth/whoami", token=hok, cert=cert2)
ok(st == 401 and is_error(d, "invalid_token") and "client certificate" in d["error"]["message"],
   f"another client certificate refused: {d}")
st, d, _ = req(a, "GET", "/auth/whoami", token=hok)
ok(st == 401 and is_error(d, "invalid_token"), "no client certificate refused")

# ---- delegate tokens (RFC 8693) ----
EX = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
st, d, _ = req(a, "POST", "/auth/token", cert=cert1,
               form={"grant_type": EX, "subject_token": hok, "subject_token_type": AT,
                     "audience": "https://f5.example.net/", "scope": "certs:install"})
ok(st == 200 and d["token_type"] == "N_A" and d["issued_token_type"].endswith(":jwt") and
   d["expires_in"] == 300, f"delegate issued: {st} {d}")
dele = d["access_token"]
dc = jwt_claims(dele)
ok(dc["sub"] == "bob" and dc["act"]["sub"] == jwt_claims(hok)["iss"] and
   dc["aud"] == "https://f5.example.net/" and dc["scope"] == "certs:install" and
   dc["cnf"]["x5t#S256"] != jwt_claims(hok)["cnf"]["x5t#S256"], f"delegate claims: {dc}")
st, d, _ = req(a, "GET", "/auth/whoami", token=hok, cert=cert1,
               headers={"VCOAuthorization": dele})
ok(st == 200 and d["delegate"]["audience"] == "https://f5.example.net/" and
   d["delegate"]["scope"] == "certs:install", f"principal + delegate: {d}")
st, d, _ = req(a, "GET", "/auth/whoami", token=dele, cert=cert1)
ok(st == 401 and "VCOAuthorization" in d["error"]["message"], f"delegate as principal: {d}")
carol_tok = a.token("carol", "carol-password-1")
st, d, _ = req(a, "GET", "/auth/whoami", token=carol_tok, headers={"VCOAuthorization": dele})
ok(st == 401 and "another user" in d["error"]["message"], f"someone else's delegate: {d}")
st, d, _ = req(a, "POST", "/auth/token", cert=cert1,
               form={"grant_type": EX, "subject_token": hok, "subject_token_type": AT})
ok(st == 400 and is_error(d, "invalid_target", "audience"), f"no audience: {d}")
st, d, _ = req(a, "POST", "/auth/token",
               form={"grant_type": EX, "subject_token": hok, "subject_token_type": AT,
                     "audience": "x"})
ok(st == 400 and is_error(d, "invalid_grant", "subject_token"), f"not the holder: {d}")
st, d, _ = req(a, "POST", "/auth/token",
               form={"grant_type": EX, "subject_token": dele, "subject_token_type": AT,
                     "audience": "x"})
ok(st == 400 and is_error(d, "invalid_grant"), f"delegate of a delegate: {d}")

# ---- external issuer (SSO) ----
idp = make_client_cert("idp")
s = Server("sso", "--auth", "both")
rc, _, err = s.cli("trust", "import", idp[0], "--token-issuer", "https://idp.example")
ok(rc == 0, f"trust the issuer: {err}")
rc, _, err = s.cli("user", "add", "sso-user", "--role", "admin", "--no-password")
ok(rc == 0, f"user without password: {err}")
aud = req(s, "GET", "/auth/")[1]["audience"]
now = int(time.time())
ext = {"iss": "https://idp.example", "sub": "sso-user", "aud": aud, "iat": now, "exp": now + 300}
st, d, _ = req(s, "GET", "/auth/whoami", token=sign_jwt(idp[1], idp[0], ext))
ok(st == 200 and d["external"] and d["name"] == "sso-user", f"external token: {st} {d}")
st, d, _ = req(s, "POST", "/auth/token",
               form={"grant_type": EX, "subject_token": sign_jwt(idp[1], idp[0], ext),
                     "subject_token_type": AT})
ok(st == 200 and d["token_type"] == "Bearer", f"external → own token: {d}")
st, d, _ = req(s, "GET", "/auth/whoami", token=d.get("access_token"))
ok(st == 200 and d["method"] == "token", f"exchanged token works: {d}")
for desc, claims, key in (("wrong audience", dict(ext, aud="someone-else"), idp),
                          ("wrong issuer", dict(ext, iss="https://evil.example"), idp),
                          ("unknown user", dict(ext, sub="mallory"), idp),
                          ("other key", ext, cert2)):
    st, d, _ = req(s, "GET", "/auth/whoami", token=sign_jwt(key[1], idp[0] if key is cert2 else key[0], claims))
    ok(st == 401 and is_error(d, "invalid_token"), f"SSO {desc}: {st} {d}")
st, d, _ = req(a, "GET", "/auth/whoami", token=sign_jwt(idp[1], idp[0], dict(ext, aud=a.url)))
ok(st == 401, "a password-only server refuses external tokens")
x = Server("ext-only", "--auth", "external")
st, d, _ = req(x, "POST", "/auth/token",
               form={"grant_type": "password", "username": "admin", "password": x.admin_pw})
ok(st == 400 and is_error(d, "unsupported_grant_type"), f"password login off: {d}")

# ---- secret canary ----
secrets = [a.admin_pw, b.admin_pw, "bob-password-1", "bob-password-2", "carol-password-1",
           tok, hok, dele, bob_tok, "export-pw"]
for srv in (a, b, s):
    blobs = {"log": srv.log().encode(), **srv.db_bytes()}
    for name, blob in blobs.items():
        for sec in secrets:
            for part in sec.split(".") if sec.count(".") == 2 else [sec]:
                if len(part) >= 8 and part.encode() in blob:
                    ok(False, f"secret found in {srv.dir} {name}")
                    break
        ok(b"PRIVATE KEY" not in blob, f"no clear key in {name}")
ok(all(srv.stop() == 0 for srv in (a, b, s, x)), "SIGTERM exits 0")
finish()
