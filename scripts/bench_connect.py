"""Connection set-up times, for scripts/bench-tls: N fresh connections to each listener of one
broker, timed from connect() until the connection may send its first ordinary request.

  PLAINTEXT          TCP connect + ApiVersions (v0) answered
  SSL                TCP connect + TLS handshake + ApiVersions answered
  SASL_SSL SCRAM     TCP connect + TLS handshake + SaslHandshake v1 + the two SaslAuthenticate
                     v1 round trips of SCRAM-SHA-512 (RFC 5802/7677, Kafka's 4096 iterations
                     unless the user was made with others), the server signature checked

The SCRAM client is written against the RFCs with Python's hashlib/hmac (test-side only; the
broker's side is RustCrypto). Prints p50 / p99 / max per kind, and one JSON line with --json.

Usage: bench_connect.py --plain H:P --ssl H:P --scram H:P --ca CA.pem --user U --password PW [-n N]
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import time


def frame(api_key, version, corr, body):
    client = b"bench-connect"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


def read_frame(s):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the broker")
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", exact(4))
    if not 0 <= size <= 1 << 20:
        raise ValueError(f"frame size {size}")
    return exact(size)[4:]  # without the correlation id


def api_versions(s):
    s.sendall(frame(18, 0, 1, b""))
    (err,) = struct.unpack(">h", read_frame(s)[:2])
    assert err == 0, f"ApiVersions error {err}"


def kstring(b):
    return struct.pack(">h", len(b)) + b


def kbytes(b):
    return struct.pack(">i", len(b)) + b


def sasl_authenticate(s, corr, token):
    s.sendall(frame(36, 1, corr, kbytes(token)))
    r = read_frame(s)
    (err,) = struct.unpack(">h", r[:2])
    (mlen,) = struct.unpack(">h", r[2:4])
    pos = 4 + max(mlen, 0)
    assert err == 0, f"SaslAuthenticate error {err}: {r[4:pos]!r}"
    (blen,) = struct.unpack(">i", r[pos:pos + 4])
    return r[pos + 4:pos + 4 + blen]


def scram_sha512(s, user, password):
    s.sendall(frame(17, 1, 1, kstring(b"SCRAM-SHA-512")))
    (err,) = struct.unpack(">h", read_frame(s)[:2])
    assert err == 0, f"SaslHandshake error {err}"
    nonce = base64.b64encode(os.urandom(18)).decode()
    bare = f"n={user},r={nonce}"
    first = sasl_authenticate(s, 2, f"n,,{bare}".encode()).decode()
    fields = dict(kv.split("=", 1) for kv in first.split(","))
    assert fields["r"].startswith(nonce), "server nonce"
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    stored = hashlib.sha512(client_key).digest()
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{bare},{first},{without_proof}".encode()
    signature = hmac.new(stored, auth_message, "sha512").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = sasl_authenticate(s, 3, f"{without_proof},p={base64.b64encode(proof).decode()}".encode()).decode()
    server_key = hmac.new(salted, b"Server Key", "sha512").digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, "sha512").digest()).decode()
    assert final == f"v={expected}", f"server signature {final!r}"


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def timed(n, one):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        s = one()
        times.append(time.perf_counter() - start)
        s.close()
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1e3, "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3,
            "max_ms": times[-1] * 1e3, "n": n}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--plain", required=True)
    a.add_argument("--ssl", required=True)
    a.add_argument("--scram", required=True)
    a.add_argument("--ca", required=True)
    a.add_argument("--user", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("-n", type=int, default=200)
    a.add_argument("--json", action="store_true")
    args = a.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False

    def plain():
        s = connect(args.plain)
        api_versions(s)
        return s

    def tls():
        s = ctx.wrap_socket(connect(args.ssl))
        api_versions(s)
        return s

    def scram():
        s = ctx.wrap_socket(connect(args.scram))
        scram_sha512(s, args.user, args.password)
        return s

    for warm in (plain, tls, scram):
        warm().close()
    out = {"PLAINTEXT": timed(args.n, plain), "SSL": timed(args.n, tls), "SASL_SSL SCRAM-SHA-512": timed(args.n, scram)}
    for k, v in out.items():
        print(f"connection set-up {k:<23} p50 {v['p50_ms']:7.2f} ms   p99 {v['p99_ms']:7.2f} ms   max {v['max_ms']:7.2f} ms  (n={v['n']})")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
