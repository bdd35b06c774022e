// kafkajs 2.x against a broker: every scenario of compat/SCENARIOS.
// Usage: node run.js HOST:PORT
// kafkajs ships only gzip; snappy, lz4 and zstd are plugged in from pure-JS / wasm codecs.
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs');
const lz4 = require('lz4js');
const zstd = require('@bokuweb/zstd-wasm');

CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
  decompress: async (buffer) => Buffer.from(zstd.decompress(buffer)),
});

const BS = process.argv[2];
const kafka = new Kafka({ clientId: 'gregor-compat', brokers: [BS], logLevel: logLevel.NOTHING });
const tag = Math.random().toString(16).slice(2, 8);
const T = `kjs-${tag}`;
const sent = [];
let failures = 0;

function check(ok, what) {
  if (!ok) throw new Error(what);
}

async function scenario(name, fn) {
  try {
    await fn();
    console.log(`PASS kafkajs ${name}`);
  } catch (e) {
    failures++;
    const detail = e && e.partitions ? ` ${JSON.stringify(e.partitions)}` : '';
    console.log(`FAIL kafkajs ${name} (${String(e && e.message ? e.message : e).replace(/\n/g, ' ')}${detail})`);
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

async function produce(topic, messages, opts = {}) {
  const p = kafka.producer(opts.producer || {});
  await p.connect();
  try {
    return await p.send({ topic, messages, compression: opts.compression, acks: -1 });
  } finally {
    await p.disconnect();
  }
}

/** Consumes `n` records of `topic` from the beginning with a fresh group; returns them. */
async function consumeAll(topic, n, groupId = `kjs-read-${tag}-${Math.random()}`) {
  const c = kafka.consumer({ groupId });
  const got = [];
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: message.offset, key: String(message.key), value: String(message.value), i: String(message.headers.i || '') });
    },
  });
  try {
    await waitUntil(`${n} records (have ${got.length})`, () => got.length >= n, 60000);
  } finally {
    await c.disconnect();
  }
  return got;
}

const line = (r) => `${r.key}=${r.value}|${r.i}`;

async function main() {
  await zstd.init();
  const admin = kafka.admin();
  await admin.connect();

  await scenario('metadata', async () => {
    const cluster = await admin.describeCluster();
    check(cluster.brokers.length === 1 && cluster.clusterId, JSON.stringify(cluster));
    check(await admin.createTopics({ topics: [{ topic: T, numPartitions: 3 }], waitForLeaders: true }), 'created');
    const md = await admin.fetchTopicMetadata({ topics: [T] });
    check(md.topics[0].partitions.length === 3, 'three partitions');
  });

  await scenario('admin-create-delete-topic', async () => {
    const name = `kjs-tmp-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
    check((await admin.listTopics()).includes(name), 'listed');
    await admin.deleteTopics({ topics: [name] });
    await waitUntil('the topic to disappear', async () => !(await admin.listTopics()).includes(name));
  });

  const batch = (prefix, n) =>
    Array.from({ length: n }, (_, i) => ({ key: `${prefix}-k${i}`, value: `${prefix}-v${i}`.repeat(3), headers: { i: String(i) } }));
  const remember = (msgs) => msgs.forEach((m) => sent.push(`${m.key}=${m.value}|${m.headers.i}`));

  await scenario('produce-keyed-headers', async () => {
    const msgs = batch('plain', 1000);
    const res = await produce(T, msgs);
    check(res.every((r) => r.errorCode === 0), JSON.stringify(res));
    remember(msgs);
  });

  for (const [name, type] of [['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.Snappy], ['lz4', CompressionTypes.LZ4], ['zstd', CompressionTypes.ZSTD]]) {
    await scenario(`compression-${name}`, async () => {
      const msgs = batch(name, 300);
      const res = await produce(T, msgs, { compression: type });
      check(res.every((r) => r.errorCode === 0), JSON.stringify(res));
      remember(msgs);
    });
  }

  await scenario('consume-compare', async () => {
    const got = await consumeAll(T, sent.length);
    const a = got.map(line).sort();
    const b = [...sent].sort();
    check(a.length === b.length && a.every((x, i) => x === b[i]), `${a.length} consumed, ${b.length} produced`);
    const perPartition = {};
    for (const r of got) (perPartition[r.partition] = perPartition[r.partition] || []).push(Number(r.offset));
    for (const offs of Object.values(perPartition)) {
      offs.sort((x, y) => x - y);
      check(offs.every((o, i) => o === i), 'offsets contiguous from 0');
    }
  });

  await scenario('list-offsets', async () => {
    const name = `kjs-times-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }] });
    const t0 = Date.now() - 100000;
    await produce(name, Array.from({ length: 20 }, (_, i) => ({ value: 'x', partition: 0, timestamp: String(t0 + i * 1000) })));
    const [o] = await admin.fetchTopicOffsets(name);
    check(o.low === '0' && o.high === '20', JSON.stringify(o));
    const [byTime] = await admin.fetchTopicOffsetsByTimestamp(name, t0 + 5500);
    check(byTime.offset === '6', JSON.stringify(byTime));
  });

  await scenario('group-commit-resume', async () => {
    const groupId = `kjs-group-${tag}`;
    const first = await consumeAll(T, sent.length, groupId);
    check(first.length === sent.length, `${first.length} of ${sent.length}`);
    await produce(T, [{ key: 'late', value: 'after-restart', partition: 0 }]);
    const again = await consumeAll(T, 1, groupId);
    check(again.length === 1 && again[0].value === 'after-restart', JSON.stringify(again));
  });

  await scenario('group-split', async () => {
    const groupId = `kjs-split-${tag}`;
    const members = [kafka.consumer({ groupId }), kafka.consumer({ groupId })];
    const assigned = [[], []];
    members.forEach((c, i) => c.on(c.events.GROUP_JOIN, (e) => { assigned[i] = (e.payload.memberAssignment[T] || []).slice(); }));
    for (const c of members) {
      await c.connect();
      await c.subscribe({ topics: [T], fromBeginning: true });
      await c.run({ eachMessage: async () => {} });
    }
    try {
      await waitUntil('two members to split three partitions', () => {
        const [a, b] = assigned;
        const all = new Set([...a, ...b]);
        return a.length > 0 && b.length > 0 && a.every((p) => !b.includes(p)) && all.size === 3;
      }, 60000);
    } finally {
      for (const c of members) await c.disconnect();
    }
  });

  await scenario('idempotent-producer', async () => {
    const name = `kjs-idem-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 2 }] });
    const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    for (let b = 0; b < 4; b++) {
      await p.send({ topic: name, acks: -1, messages: Array.from({ length: 500 }, (_, i) => ({ value: `r${b * 500 + i}` })) });
    }
    await p.disconnect();
    const offsets = await admin.fetchTopicOffsets(name);
    const total = offsets.reduce((s, o) => s + Number(o.high), 0);
    check(total === 2000, `log holds ${total} records`);
  });

  await scenario('message-too-large', async () => {
    const name = `kjs-big-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }] });
    const p = kafka.producer({ retry: { retries: 0 } });
    await p.connect();
    try {
      let refused = null;
      try {
        await p.send({ topic: name, messages: [{ value: 'x'.repeat(1100 * 1024) }] });
      } catch (e) {
        refused = e;
      }
      const type = refused && (refused.type || (refused.originalError && refused.originalError.type));
      check(type === 'MESSAGE_TOO_LARGE', `refused with ${type || refused}`);
      const ok = await p.send({ topic: name, messages: [{ value: 'y'.repeat(900 * 1024) }] });
      check(ok[0].errorCode === 0 && ok[0].baseOffset === '0', JSON.stringify(ok));
    } finally {
      await p.disconnect();
    }
  });

  await scenario('describe-configs', async () => {
    const r = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: T }], includeSynonyms: false });
    const entries = r.resources[0].configEntries;
    const get = (n) => entries.find((e) => e.configName === n);
    check(get('max.message.bytes').configValue === '1048588', JSON.stringify(get('max.message.bytes')));
    check(get('retention.ms').isDefault, 'retention.ms is a default');
  });

  await scenario('delete-records', async () => {
    // kafkajs looks the partition leader up in its cached metadata before refreshing it,
    // whatever the broker: load the topic's metadata first.
    await admin.fetchTopicMetadata({ topics: [T] });
    await admin.deleteTopicRecords({ topic: T, partitions: [{ partition: 0, offset: '5' }] });
    const offsets = await admin.fetchTopicOffsets(T);
    const p0 = offsets.find((o) => o.partition === 0);
    check(p0.low === '5', JSON.stringify(p0));
  });

  await admin.disconnect();
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL kafkajs setup (${e && e.message})`);
  process.exit(1);
});
