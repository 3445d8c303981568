#!/usr/bin/env python3
"""Parses what keytool and openssl print about keystores into JSON, for
tests/integration/50_install_keystores.sh and 51_install_crash.sh.

  ksinfo.py keytool < 'keytool -list -v' output
      {alias: {"type": "PrivateKeyEntry"|"trustedCertEntry", "chain": N, "fp": SHA256}}
      (fp: of the entry's first certificate, as keytool prints it)
  ksinfo.py p12 ALIAS CERTOUT KEYOUT < 'openssl pkcs12 -nodes' output
      writes the certificate and the private key bag whose friendlyName is ALIAS
      and prints the certificate's SHA-256 fingerprint (upper-case hex with colons)
  ksinfo.py pem FILE
      [{"type": "CERTIFICATE"|"PRIVATE KEY"|..., "fp": SHA256 or null}] in file order
"""
import base64
import hashlib
import json
import re
import sys


def fingerprint(der):
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def pem_blocks(text):
    for m in re.finditer(r"-----BEGIN ([A-Z0-9 ]+)-----\n(.*?)-----END \1-----", text, re.S):
        body = "".join(m.group(2).split())
        der = base64.b64decode(body)
        yield m.group(1), der, m.group(0)


def keytool(text):
    out = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"Alias name: (.*)$", line)
        if m:
            cur = {"type": None, "chain": 1, "fp": None}
            out[m.group(1)] = cur
            continue
        if cur is None:
            continue
        m = re.match(r"Entry type: (\S+)", line)
        if m:
            cur["type"] = m.group(1)
        m = re.match(r"Certificate chain length: (\d+)", line)
        if m:
            cur["chain"] = int(m.group(1))
        m = re.match(r"\s+SHA256: ([0-9A-F:]+)", line)
        if m and cur["fp"] is None:
            cur["fp"] = m.group(1)
    json.dump(out, sys.stdout, sort_keys=True)
    print()


def p12(alias, cert_out, key_out):
    text = sys.stdin.read()
    cert = key = None
    # Each bag: "Bag Attributes" lines, then (maybe) subject/issuer, then one PEM block.
    for part in text.split("Bag Attributes")[1:]:
        m = re.search(r"^\s+friendlyName: (.*)$", part, re.M)
        if not m or m.group(1) != alias:
            continue
        for kind, der, pem in pem_blocks(part):
            if kind == "CERTIFICATE" and cert is None:
                cert = (der, pem)
            elif kind.endswith("PRIVATE KEY") and key is None:
                key = pem
    if cert is None or key is None:
        sys.exit("alias %r: certificate %s, key %s" % (alias, cert is not None, key is not None))
    with open(cert_out, "w") as f:
        f.write(cert[1] + "\n")
    with open(key_out, "w") as f:
        f.write(key + "\n")
    print(fingerprint(cert[0]))


def pem(path):
    with open(path) as f:
        text = f.read()
    out = []
    for kind, der, _ in pem_blocks(text):
        out.append({"type": kind, "fp": fingerprint(der) if kind == "CERTIFICATE" else None})
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "keytool":
        keytool(sys.stdin.read())
    elif mode == "p12":
        p12(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "pem":
        pem(sys.argv[2])
    else:
        sys.exit("unknown mode " + mode)
