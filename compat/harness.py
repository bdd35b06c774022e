"""Shared runner for the Python clients' scenarios: each scenario prints one line,
`PASS <client> <name>`, `FAIL <client> <name> (reason)` or `SKIP <client> <name> (reason)`.
A scenario that returns a string passes with it as a note (`PASS <client> <name> (note)`: counts)."""
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
        try:
            note = fn()
            print(f"PASS {self.client} {name}" + (f" ({note})" if note else ""), flush=True)
        except Skip as s:
            print(f"SKIP {self.client} {name} ({s})", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure becomes a line
            self.failures += 1
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {self.client} {name} ({type(e).__name__}: {e} at line {where.lineno})", flush=True)


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
