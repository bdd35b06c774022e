"""Shared runner for the Python clients' scenarios: each scenario prints one line,
`PASS <client> <name>`, `FAIL <client> <name> (reason)` or `SKIP <client> <name> (reason)`.
A scenario that returns a string passes with it as a note (`PASS <client> <name> (note)`: counts)."""
import collections
import os
import subprocess
import time
import traceback


class Skip(Exception):
    """Raised by a scenario the client cannot run; the message is the reason."""


class Runner:
    def __init__(self, client):
        self.client = client
        self.failures = 0

    def run(self, name, fn):
        if not wanted(name):
            return
        try:
            note = fn()
            print(f"PASS {self.client} {name}" + (f" ({note})" if note else ""), flush=True)
        except Skip as s:
            print(f"SKIP {self.client} {name} ({s})", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure becomes a line
            self.failures += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {self.client} {name} ({type(e).__name__}: {e} at line {where.lineno})", flush=True)


def wanted(name):
    """Whether to run a scenario: all of them, or those named in $COMPAT_SCENARIOS."""
    only = os.environ.get("COMPAT_SCENARIOS", "").split()
    return not only or name in only


class Secured:
    """One of the secured scenarios' listeners on the broker scripts/compat starts: its
    address, the certificates (compat/ssl-certs.sh) and the SASL user, from the environment."""

    SCENARIOS = {  # scenario -> the variable holding its listener's address
        "sasl-ssl-scram-sha-512": "COMPAT_SCRAM_BS",
        "ssl-mtls": "COMPAT_SSL_BS",
        "sasl-plaintext-plain": "COMPAT_PLAIN_BS",
        "sasl-plaintext-oauthbearer": "COMPAT_OAUTH_BS",
    }

    def __init__(self, scenario):
        self.bs = os.environ.get(self.SCENARIOS[scenario])
        if not self.bs:
            raise Skip(f"no listener given (${self.SCENARIOS[scenario]}): run through scripts/compat")
        d = os.environ.get("COMPAT_SSL_DIR", "")
        self.ca, self.cert, self.key = f"{d}/ca.pem", f"{d}/client.crt", f"{d}/client.key"
        self.user = os.environ.get("COMPAT_SASL_USER", "")
        self.password = os.environ.get("COMPAT_SASL_PASSWORD", "")
        self.scope = os.environ.get("COMPAT_OAUTH_SCOPE", "")
        self.records = [(f"k{i}".encode(), f"{scenario}-{i}".encode()) for i in range(20)]


def unsecured_jwt(sub, scope=None, lifetime_s=3600):
    """An unsigned JWT (`alg` `none`, empty signature) as Kafka's unsecured login module
    writes it, for the OAUTHBEARER scenario: `sub`, `iat`, `exp` and, if given, `scope`."""
    import base64
    import json

    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + lifetime_s}
    if scope:
        claims["scope"] = [scope]
    return f"{b64({'alg': 'none'})}.{b64(claims)}."


def wait_until(what, fn, timeout=30.0):
    """Polls fn until it returns a truthy value, or raises at the deadline."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fault(*args):
    """Runs the cluster tier's fault hook ($COMPAT_FAULT, see compat/cluster.py); its output."""
    hook = os.environ.get("COMPAT_FAULT")
    if not hook:
        raise Skip("no fault hook: run through scripts/compat --cluster")
    r = subprocess.run([hook, *args], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"fault {' '.join(args)}: {r.stderr.strip()[-300:]}"
    return r.stdout.strip()


class GroupLedger:
    """What a group consumer read and committed during a failover scenario: every value read,
    the values read but not yet committed, and any value read again after its commit (which
    must never happen). The client-specific loop feeds it; the checks and the note are shared."""

    def __init__(self):
        self.seen = collections.Counter()
        self.committed, self.pending, self.dup_committed = set(), [], []
        self.commit_failures = 0

    def read(self, value):
        if value in self.committed:
            self.dup_committed.append(value)
        self.seen[value] += 1
        self.pending.append(value)

    def commit(self, do_commit, errors):
        """Commits what was read with `do_commit()`; a failure in `errors` leaves it pending:
        the batch may come again (at-least-once)."""
        if not self.pending:
            return
        try:
            do_commit()
            self.committed.update(self.pending)
            self.pending = []
        except errors:
            self.commit_failures += 1

    def consumed_all(self, acked):
        return acked <= set(self.seen) and not self.pending

    def check(self, failed):
        assert not failed, f"{len(failed)} sends failed: {failed[:2]}"
        assert not self.dup_committed, \
            f"{len(self.dup_committed)} committed records consumed again: {self.dup_committed[:3]}"

    def note(self, killed, n_acked):
        dups = sum(n - 1 for n in self.seen.values() if n > 1)
        return (f"node {killed} killed; {n_acked} acked, all consumed; {dups} duplicates before commit, "
                f"0 after; {self.commit_failures} failed commits")
