"""kafka-python's secured scenarios (one listener each, see scripts/compat): records produced
and read back through a consumer group over the listener, then a client with a wrong password
(or, for mTLS, no certificate; for OAUTHBEARER, an unsecured token without the scope the
listener requires) must fail with the broker's refusal, not wait."""
import logging
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from harness import Secured, unsecured_jwt

try:
    from kafka.net.sasl.oauth import AbstractTokenProvider
except ImportError:  # kafka-python < 3
    from kafka.sasl.oauth import AbstractTokenProvider


class _Token(AbstractTokenProvider):
    """kafka-python's OAUTHBEARER token provider (its `token()` is all the client calls):
    an unsecured JWT for the scenario's user."""

    def __init__(self, sub, scope):
        super().__init__()
        self.jwt = unsecured_jwt(sub, scope)

    def token(self):
        return self.jwt

    def extensions(self):
        return {}


def conf(s, scenario, password=None, certificate=True):
    """The client settings of a scenario; a wrong password or no certificate for the refusal."""
    if scenario == "ssl-mtls":
        c = {"security_protocol": "SSL", "ssl_cafile": s.ca}
        if certificate:
            c.update({"ssl_certfile": s.cert, "ssl_keyfile": s.key})
    elif scenario.endswith("oauthbearer"):
        # The wrong "password" drops the scope the listener requires.
        c = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "OAUTHBEARER",
             "sasl_oauth_token_provider": _Token(s.user, None if password else s.scope)}
    else:
        tls = scenario.startswith("sasl-ssl")
        c = {"security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
             "sasl_mechanism": "SCRAM-SHA-512" if "scram" in scenario else "PLAIN",
             "sasl_plain_username": s.user, "sasl_plain_password": password or s.password}
        if tls:
            c["ssl_cafile"] = s.ca
    return {"bootstrap_servers": s.bs, **c}


class _Reasons(logging.Handler):
    """Collects what the client logs about failed connections."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def refusal(s, scenario):
    """Bootstraps with the wrong credentials: the client must give up (KafkaTimeoutError: it
    retries a refused bootstrap until `bootstrap_timeout_ms`) and have logged why. Returns the
    reason it logged and the seconds it took."""
    reasons = _Reasons()
    logger = logging.getLogger("kafka")
    logger.addHandler(reasons)
    start = time.time()
    try:
        KafkaAdminClient(bootstrap_timeout_ms=3000, **conf(s, scenario, password="wrong-password", certificate=False))
        raise AssertionError("served with wrong credentials")
    except KafkaTimeoutError:
        pass
    finally:
        logger.removeHandler(reasons)
    # The broker answers SASL_AUTHENTICATION_FAILED then closes, as Kafka does; kafka-python
    # 3.0.12 drops a response that arrives in the same read as the close (its transport's
    # _sock_recv), so it often reports only the disconnection.
    want = ["certificate required"] if scenario == "ssl-mtls" else [
        # PLAIN's "Authentication failed: Invalid username or password" and SCRAM's
        # "Authentication failed during authentication due to invalid credentials ...".
        "insufficient_scope", "Authentication failed", "socket disconnected"]
    seen = [w for w in want if any(w in m for m in reasons.messages)]
    assert seen, f"no refusal logged: {reasons.messages[:3]}"
    return seen[0], time.time() - start


def scenario(name, tag):
    def run():
        s = Secured(name)
        topic = f"kpy-{name}-{tag}"
        ok = conf(s, name)
        p = KafkaProducer(linger_ms=5, **ok)
        for f in [p.send(topic, key=k, value=v) for k, v in s.records]:
            f.get(timeout=30)
        p.close()
        c = KafkaConsumer(topic, group_id=topic, auto_offset_reset="earliest", consumer_timeout_ms=30000, **ok)
        got = set()
        for m in c:
            got.add((m.key, m.value))
            if len(got) >= len(s.records):
                break
        c.close()
        assert got == set(s.records), f"the group read {len(got)} of {len(s.records)}"

        # DescribeCluster over the listener advertises the listener's own address.
        admin = KafkaAdminClient(**ok)
        ports = {b["port"] for b in admin.describe_cluster()["brokers"]}
        admin.close()
        assert ports == {int(s.bs.rsplit(":", 1)[1])}, f"DescribeCluster: ports {ports}"

        reason, took = refusal(s, name)
        return f"{len(got)} records via a group; refused: '{reason}', gave up after {took:.1f} s"
    return run


def run_all(runner, tag):
    for name in Secured.SCENARIOS:
        runner.run(name, scenario(name, tag))
