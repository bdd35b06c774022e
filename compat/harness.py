"""Shared runner for the Python clients' scenarios: each scenario prints one line,
`PASS <client> <name>`, `FAIL <client> <name> (reason)` or `SKIP <client> <name> (reason)`."""
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
            fn()
            print(f"PASS {self.client} {name}", flush=True)
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
