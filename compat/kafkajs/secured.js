// kafkajs's secured scenarios (one listener each, see scripts/compat): records produced and
// read back through a consumer group over the listener, then a client with a wrong password
// (or, for mTLS, no certificate; for OAUTHBEARER, a malformed token) must fail with the
// broker's refusal, not wait.
'use strict';
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

// scenario -> the variable holding its listener's address
const SCENARIOS = {
  'sasl-ssl-scram-sha-512': 'COMPAT_SCRAM_BS',
  'ssl-mtls': 'COMPAT_SSL_BS',
  'sasl-plaintext-plain': 'COMPAT_PLAIN_BS',
  'sasl-plaintext-oauthbearer': 'COMPAT_OAUTH_BS',
};

/** An unsigned JWT (`alg` `none`, empty signature) as Kafka's unsecured login module writes
 * it: `sub`, `iat`, `exp` and, if given, `scope`. */
function unsecuredJwt(sub, scope) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iat: now, exp: now + 3600, ...(scope ? { scope: [scope] } : {}) };
  return `${b64({ alg: 'none' })}.${b64(claims)}.`;
}

/** The client options of a scenario; a wrong password or no certificate for the refusal. */
function options(name, bs, { password, certificate = true } = {}) {
  const env = process.env;
  const file = (f) => fs.readFileSync(`${env.COMPAT_SSL_DIR}/${f}`, 'utf8');
  const o = { clientId: 'gregor-compat-secured', brokers: [bs], logLevel: logLevel.NOTHING };
  if (name === 'ssl-mtls') {
    o.ssl = certificate ? { ca: [file('ca.pem')], cert: file('client.crt'), key: file('client.key') } : { ca: [file('ca.pem')] };
  } else if (name.endsWith('oauthbearer')) {
    // kafkajs ignores the broker's JSON error challenge to a well-formed token it refuses (it
    // neither answers it nor fails: against Kafka too, the connection then dies on its next
    // request), so its bad token is one that is not a bearer token at all, which the broker
    // refuses with SASL_AUTHENTICATION_FAILED at once.
    const token = password ? 'not a token' : unsecuredJwt(env.COMPAT_SASL_USER, env.COMPAT_OAUTH_SCOPE);
    o.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) };
  } else {
    if (name.startsWith('sasl-ssl')) o.ssl = { ca: [file('ca.pem')] };
    o.sasl = {
      mechanism: name.includes('scram') ? 'scram-sha-512' : 'plain',
      username: env.COMPAT_SASL_USER,
      password: password || env.COMPAT_SASL_PASSWORD,
    };
  }
  return o;
}

/** What the broker's refusal looks like to kafkajs: its SASL error, or TLS 1.3's
 * certificate_required alert (the client's handshake completes first, so the alert comes
 * on the first read, as a connection error). */
function isRefusal(name, e) {
  if (name === 'ssl-mtls') return /certificate required|CERTIFICATE_REQUIRED/i.test(`${e.message} ${e.code}`);
  return e.name === 'KafkaJSSASLAuthenticationError';
}

function secured(name, tag, waitUntil) {
  return async () => {
    const bs = process.env[SCENARIOS[name]];
    if (!bs) throw new Error(`no listener given ($${SCENARIOS[name]}): run through scripts/compat`);
    const records = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `${name}-${i}` }));
    const kafka = new Kafka(options(name, bs));
    const topic = `kjs-${name}-${tag}`;
    const p = kafka.producer();
    await p.connect();
    try {
      await p.send({ topic, messages: records, acks: -1 });
    } finally {
      await p.disconnect();
    }
    const c = kafka.consumer({ groupId: topic });
    const got = new Set();
    await c.connect();
    try {
      await c.subscribe({ topics: [topic], fromBeginning: true });
      await c.run({ eachMessage: async ({ message }) => { got.add(`${message.key}=${message.value}`); } });
      await waitUntil(`${records.length} records (have ${got.size})`, () => got.size >= records.length, 60000);
    } finally {
      await c.disconnect();
    }
    const want = records.map((r) => `${r.key}=${r.value}`);
    if (got.size !== want.length || !want.every((r) => got.has(r))) throw new Error(`the group read ${[...got]}`);

    // DescribeCluster over the listener advertises the listener's own address.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { brokers } = await admin.describeCluster();
      const port = Number(bs.split(':').pop());
      if (!brokers.every((b) => b.port === port)) throw new Error(`DescribeCluster: ${JSON.stringify(brokers)}`);
    } finally {
      await admin.disconnect();
    }

    const refused = new Kafka({ ...options(name, bs, { password: 'wrong-password', certificate: false }), retry: { retries: 0 } }).admin();
    const start = Date.now();
    try {
      await refused.connect();
    } catch (e) {
      if (!isRefusal(name, e)) throw new Error(`refused with ${e.name}: ${e.message}`);
      return `${got.size} records via a group; refused: ${e.name} in ${((Date.now() - start) / 1000).toFixed(1)} s`;
    } finally {
      await refused.disconnect();
    }
    throw new Error('served with wrong credentials');
  };
}

/** Runs the secured scenarios with run.js's `scenario` and `waitUntil`. */
async function runAll(scenario, tag, waitUntil) {
  for (const name of Object.keys(SCENARIOS)) await scenario(name, secured(name, tag, waitUntil));
}

module.exports = { runAll };
