"""confluent-kafka's secured scenarios (one listener each, see scripts/compat): records
produced and read back through a consumer group over the listener, then a client with a wrong
password (or, for mTLS, no certificate; for OAUTHBEARER, librdkafka's unsecured token without
the scope the listener requires) must see the broker's refusal as an error, not wait."""
import time

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from harness import Secured


def conf(s, scenario, password=None, certificate=True):
    """The client settings of a scenario; a wrong password or no certificate for the refusal."""
    if scenario == "ssl-mtls":
        c = {"security.protocol": "SSL", "ssl.ca.location": s.ca}
        if certificate:
            c.update({"ssl.certificate.location": s.cert, "ssl.key.location": s.key})
    elif scenario.endswith("oauthbearer"):
        # librdkafka's own unsecured JWT; the wrong "password" drops the required scope.
        claims = f"principal={s.user}" + ("" if password else f" scope={s.scope}")
        c = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "OAUTHBEARER",
             "enable.sasl.oauthbearer.unsecure.jwt": True, "sasl.oauthbearer.config": claims}
    else:
        tls = scenario.startswith("sasl-ssl")
        c = {"security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
             "sasl.mechanisms": "SCRAM-SHA-512" if "scram" in scenario else "PLAIN",
             "sasl.username": s.user, "sasl.password": password or s.password}
        if tls:
            c["ssl.ca.location"] = s.ca
    return {"bootstrap.servers": s.bs, **c}


def refusal(scenario):
    """Whether an error is the broker's refusal: SASL's authentication failure, or TLS 1.3's
    certificate_required alert (the client finished its handshake first, so librdkafka
    reports the alert on its first read, as a transport error)."""
    if scenario == "ssl-mtls":
        return lambda e: e.code() in (KafkaError._SSL, KafkaError._TRANSPORT) and "certificate required" in e.str()
    return lambda e: e.code() == KafkaError._AUTHENTICATION


def scenario(name, tag):
    def run():
        s = Secured(name)
        topic = f"ck-{name}-{tag}"
        ok = conf(s, name)
        p = Producer({**ok, "linger.ms": 5})
        for k, v in s.records:
            p.produce(topic, key=k, value=v)
        assert p.flush(30) == 0, "not all delivered"
        c = Consumer({**ok, "group.id": topic, "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got, deadline = set(), time.time() + 60
        while len(got) < len(s.records) and time.time() < deadline:
            m = c.poll(1)
            if m is not None and m.error() is None:
                got.add((m.key(), m.value()))
        c.close()
        assert got == set(s.records), f"the group read {len(got)} of {len(s.records)}"

        # Metadata over the listener advertises the listener's own address.
        md = AdminClient(ok).list_topics(timeout=10)
        ports = {b.port for b in md.brokers.values()}
        assert ports == {int(s.bs.rsplit(":", 1)[1])} and topic in md.topics, f"metadata: ports {ports}"

        errors = []
        refused = AdminClient({**conf(s, name, password="wrong-password", certificate=False),
                               "error_cb": errors.append})
        start = time.time()
        while not any(map(refusal(name), errors)):
            assert time.time() - start < 20, f"no refusal seen in 20 s: {[str(e) for e in errors[:3]]}"
            refused.poll(0.1)
        e = next(filter(refusal(name), errors))
        return f"{len(got)} records via a group; refused: {e.name()} in {time.time() - start:.1f} s"
    return run


def run_all(runner, tag):
    for name in Secured.SCENARIOS:
        runner.run(name, scenario(name, tag))
