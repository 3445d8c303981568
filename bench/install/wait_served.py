#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""wait_served.py HOST PORT SNI SHA256HEX [TIMEOUT_S]

Polls a TLS listener until the leaf certificate it serves (with SNI) has the given SHA-256
fingerprint (hex, any case, colons allowed). Exit 0 when it does, 1 on timeout. Used by
bench/install/run.sh to end a timed run when the new certificate is really served.
"""
import hashlib
import socket
import ssl
import sys
import time


def served(host, port, sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=2) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def main():
    host, port, sni, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    want = want.replace(":", "").lower()
    deadline = time.monotonic() + (float(sys.argv[5]) if len(sys.argv) > 5 else 20.0)
    while time.monotonic() < deadline:
        try:
            if served(host, port, sni) == want:
                return 0
        except OSError:
            pass
        time.sleep(0.005)
    print(f"wait_served: {host}:{port} ({sni}) does not serve {want}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
