// kafkajs 2.x against a 3-node cluster: the scenarios of compat/SCENARIOS-cluster.
// Usage: node cluster.js HOST:PORT,HOST:PORT,HOST:PORT (with $COMPAT_FAULT set by scripts/compat --cluster)
'use strict';
const { execFile } = require('child_process');
const { Kafka, logLevel } = require('kafkajs');

const BS = process.argv[2].split(',');
const kafka = new Kafka({ clientId: 'gregor-compat-cluster', brokers: BS, logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 2000 } });
const tag = Math.random().toString(16).slice(2, 8);
let failures = 0;

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function scenario(name, fn) {
  try {
    const note = await fn();
    console.log(`PASS kafkajs ${name}${note ? ` (${note})` : ''}`);
  } catch (e) {
    failures++;
    console.log(`FAIL kafkajs ${name} (${String(e && e.message ? e.message : e).replace(/\n/g, ' ')})`);
  }
}

async function waitUntil(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The cluster tier's fault hook ($COMPAT_FAULT, see compat/cluster.py); resolves to its output. */
function fault(...args) {
  return new Promise((resolve, reject) => {
    execFile(process.env.COMPAT_FAULT, args, { timeout: 180000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`fault ${args.join(' ')}: ${String(stderr).slice(-300)}`));
      else resolve(String(stdout).trim());
    });
  });
}

async function main() {
  check(process.env.COMPAT_FAULT, 'no fault hook: run through scripts/compat --cluster');
  const admin = kafka.admin();
  await admin.connect();
  const create = (topic) => admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }], waitForLeaders: true });

  await scenario('cluster-produce-consume', async () => {
    const name = `kjs-rf3-${tag}`;
    await create(name);
    const p = kafka.producer();
    await p.connect();
    const acked = new Map();
    for (let chunk = 0; chunk < 10; chunk++) {
      const messages = Array.from({ length: 100 }, (_, j) => ({ key: `k${chunk * 100 + j}`, value: `v${chunk * 100 + j}` }));
      await p.send({ topic: name, acks: -1, messages });
      for (const m of messages) acked.set(m.value, m.key);
    }
    await p.disconnect();
    const c = kafka.consumer({ groupId: `kjs-read-${tag}` });
    const got = new Map();
    await c.connect();
    await c.subscribe({ topics: [name], fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => { got.set(String(message.value), String(message.key)); } });
    await waitUntil('every record', () => got.size >= acked.size, 60000);
    await c.disconnect();
    check(got.size === acked.size && [...acked].every(([v, k]) => got.get(v) === k), `${got.size} read, ${acked.size} acked`);
    return `${acked.size} records`;
  });

  // A group consumer commits after every batch; midway the leader of partition 0 is killed
  // (kill -9) while an idempotent acks=all producer keeps producing. Every acknowledged record is
  // consumed, no committed record is consumed twice, and a restarted member of the group sees
  // nothing already processed.
  await scenario('cluster-failover-group', async () => {
    const name = `kjs-fo-${tag}`;
    const groupId = `kjs-fo-${tag}`;
    await create(name);
    const total = 2000;
    const acked = new Set();
    const seen = new Map();
    const committed = new Set();
    const dupCommitted = [];
    const failed = [];
    let killed = null;
    let commitFailures = 0;
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const c = kafka.consumer({ groupId });
    await c.connect();
    await c.subscribe({ topics: [name], fromBeginning: true });
    await c.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const values = batch.messages.map((m) => String(m.value));
        for (const v of values) {
          if (committed.has(v)) dupCommitted.push(v);
          seen.set(v, (seen.get(v) || 0) + 1);
        }
        if (!batch.messages.length) return;
        const last = batch.messages[batch.messages.length - 1];
        try {
          await c.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
          for (const v of values) committed.add(v);
        } catch (e) {
          commitFailures++; // the batch may come again: at-least-once
        }
      },
    });
    const sendChunk = async (from) => {
      const messages = Array.from({ length: 100 }, (_, j) => ({ key: `k${(from + j) % 50}`, value: `v${from + j}` }));
      try {
        await p.send({ topic: name, acks: -1, messages });
        for (const m of messages) acked.add(m.value);
      } catch (e) {
        failed.push(String(e.message));
      }
    };
    try {
      for (let i = 0; i < total / 2; i += 100) await sendChunk(i);
      await waitUntil('a quarter consumed', () => seen.size >= total / 4, 60000);
      killed = await fault('kill-leader', name, '0');
      for (let i = total / 2; i < total; i += 100) await sendChunk(i);
      await waitUntil('every acknowledged record consumed and committed', () => [...acked].every((v) => committed.has(v)), 90000);
      await c.disconnect();
      const nAcked = acked.size;
      let dups = 0;
      for (const n of seen.values()) dups += n - 1;
      check(!failed.length, `${failed.length} sends failed: ${failed.slice(0, 2)}`);
      check(!dupCommitted.length, `${dupCommitted.length} committed records consumed again: ${dupCommitted.slice(0, 3)}`);
      // A restarted member resumes at the committed offsets: only the new end markers come.
      await p.send({ topic: name, acks: -1, messages: [0, 1, 2].map((partition) => ({ partition, value: 'end' })) });
      await p.disconnect();
      const again = [];
      let ends = 0;
      const c2 = kafka.consumer({ groupId });
      await c2.connect();
      await c2.subscribe({ topics: [name], fromBeginning: true });
      await c2.run({ eachMessage: async ({ message }) => { if (String(message.value) === 'end') ends++; else again.push(String(message.value)); } });
      await waitUntil('3 end markers', () => ends >= 3, 60000);
      await c2.disconnect();
      check(!again.length, `a restarted member re-read ${again.length} processed records: ${again.slice(0, 3)}`);
      return `node ${killed} killed; ${nAcked} acked, all consumed; ${dups} duplicates before commit, 0 after; ${commitFailures} failed commits`;
    } finally {
      await c.disconnect().catch(() => {});
      await p.disconnect().catch(() => {});
      await fault('restart-all');
    }
  });

  await scenario('cluster-admin', async () => {
    const name = `kjs-adm-${tag}`;
    await create(name);
    let leaders = [];
    await waitUntil('3 replicas and an ISR of 3 on every partition', async () => {
      const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
      const ps = topics[0].partitions;
      leaders = ps.map((x) => x.leader).sort();
      return ps.length === 3 && ps.every((x) => x.replicas.length === 3 && x.isr.length === 3);
    });
    await admin.deleteTopics({ topics: [name] });
    await waitUntil('the topic to disappear', async () => !(await admin.listTopics()).includes(name));
    return `leaders on nodes ${leaders}`;
  });

  await admin.disconnect();
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL kafkajs setup (${e && e.message})`);
  process.exit(1);
});
