// kafkajs 2.x against a broker: every scenario of compat/SCENARIOS.
// Usage: node run.js HOST:PORT
// kafkajs ships only gzip; snappy, lz4 and zstd are plugged in from pure-JS / wasm codecs.
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, ConfigSource, logLevel } = require('kafkajs');
const lz4 = require('lz4js');
const zstd = require('@bokuweb/zstd-wasm');
const secured = require('./secured');

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

const only = (process.env.COMPAT_SCENARIOS || '').split(/\s+/).filter(Boolean);

/** Runs a scenario (all of them, or those named in $COMPAT_SCENARIOS); a string it returns
 * is the PASS line's note. */
async function scenario(name, fn) {
  if (only.length && !only.includes(name)) return;
  try {
    const note = await fn();
    console.log(`PASS kafkajs ${name}${note ? ` (${note})` : ''}`);
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

  // fetch.max.bytes (maxBytes) below one batch on 4 partitions: every partition within the first 12 records.
  await scenario('fetch-rotation', async () => {
    const name = `kjs-rot-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 4 }], waitForLeaders: true });
    const value = (p, r) => `p${p}r${r}.`.repeat(4000).slice(0, 20000);
    const want = [];
    const p = kafka.producer();
    await p.connect();
    try {
      for (let r = 0; r < 6; r++) {
        // One send a round: one batch per partition and round.
        const messages = [0, 1, 2, 3].map((part) => ({ partition: part, key: `p${part}r${r}`, value: value(part, r) }));
        await p.send({ topic: name, messages, acks: -1 });
        messages.forEach((m) => want.push(`${m.partition}/${r}=${m.key}=${m.value}`));
      }
    } finally {
      await p.disconnect();
    }
    const c = kafka.consumer({ groupId: `kjs-rot-${tag}`, maxBytes: 1024, maxBytesPerPartition: 1024 });
    const got = [];
    await c.connect();
    await c.subscribe({ topics: [name], fromBeginning: true });
    await c.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ partition, line: `${partition}/${message.offset}=${message.key}=${message.value}` });
      },
    });
    try {
      await waitUntil(`${want.length} records (have ${got.length})`, () => got.length >= want.length, 60000);
    } finally {
      await c.disconnect();
    }
    const order = got.map((g) => g.partition);
    check(new Set(order.slice(0, 12)).size === 4, `first 12 from partitions ${order.slice(0, 12)}`);
    const a = got.map((g) => g.line).sort();
    const b = [...want].sort();
    check(a.length === b.length && a.every((x, i) => x === b[i]), `${a.length} consumed, ${b.length} produced, payloads differ`);
    return `first partitions ${order.slice(0, 8)}`;
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

  /** Every value of partition 0 of `topic`, read from the beginning until `n` have arrived. */
  async function readValues(topic, n, readUncommitted) {
    const c = kafka.consumer({ groupId: `kjs-txnread-${tag}-${Math.random()}`, readUncommitted });
    const got = [];
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => { got.push(String(message.value)); } });
    try {
      // Aborted records would arrive before the last committed ones, so waiting for `n` and
      // comparing the order catches them.
      await waitUntil(`${n} records (have ${got.length})`, () => got.length >= n, 60000);
    } finally {
      await c.disconnect();
    }
    return got;
  }

  await scenario('txn-commit-abort', async () => {
    const name = `kjs-txn-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
    const p = kafka.producer({ transactionalId: `kjs-txn-${tag}`, idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const expected = [];
    try {
      for (const [txn, n, commit] of [[0, 100, true], [1, 50, false], [2, 100, true]]) {
        const t = await p.transaction();
        const values = Array.from({ length: n }, (_, i) => `t${txn}-${i}`);
        await t.send({ topic: name, messages: values.map((value) => ({ value, partition: 0 })) });
        if (commit) {
          await t.commit();
          expected.push(...values);
        } else {
          await t.abort();
        }
      }
    } finally {
      await p.disconnect();
    }
    const committed = await readValues(name, 200, false);
    check(JSON.stringify(committed) === JSON.stringify(expected), `read_committed: ${committed.length} records, expected 200 in order`);
    const all = await readValues(name, 250, true);
    check(all.length === 250, `read_uncommitted: ${all.length}`);
  });

  await scenario('txn-fencing', async () => {
    const name = `kjs-fence-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
    const conf = { transactionalId: `kjs-fence-${tag}`, idempotent: true, maxInFlightRequests: 1 };
    const first = kafka.producer(conf);
    const second = kafka.producer(conf);
    await first.connect();
    await second.connect();
    try {
      const zombie = await first.transaction();
      await zombie.send({ topic: name, messages: [{ value: 'zombie', partition: 0 }] });
      const winner = await second.transaction();
      await winner.send({ topic: name, messages: [{ value: 'winner', partition: 0 }] });
      await winner.commit();
      let fenced = null;
      try {
        await zombie.commit();
      } catch (e) {
        fenced = e;
      }
      const type = fenced && (fenced.type || (fenced.originalError && fenced.originalError.type));
      check(fenced && /FENCED|EPOCH/.test(String(type) + String(fenced.message)), `the fenced producer committed (${type})`);
    } finally {
      await first.disconnect();
      await second.disconnect();
    }
    const got = await readValues(name, 1, false);
    check(JSON.stringify(got) === JSON.stringify(['winner']), JSON.stringify(got));
  });

  await scenario('txn-offsets', async () => {
    const src = `kjs-eos-in-${tag}`;
    const dst = `kjs-eos-out-${tag}`;
    const group = `kjs-eos-${tag}`;
    await admin.createTopics({ topics: [{ topic: src, numPartitions: 1 }, { topic: dst, numPartitions: 1 }], waitForLeaders: true });
    await produce(src, Array.from({ length: 100 }, (_, i) => ({ value: `in-${i}`, partition: 0 })));
    const p = kafka.producer({ transactionalId: `kjs-eos-${tag}`, idempotent: true, maxInFlightRequests: 1 });
    const c = kafka.consumer({ groupId: group });
    await p.connect();
    await c.connect();
    let done = 0;
    try {
      await c.subscribe({ topics: [src], fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const t = await p.transaction();
          await t.send({ topic: dst, messages: batch.messages.map((m) => ({ value: String(m.value).replace('in-', 'out-'), partition: 0 })) });
          const next = (BigInt(batch.lastOffset()) + 1n).toString();
          await t.sendOffsets({ consumerGroupId: group, topics: [{ topic: src, partitions: [{ partition: batch.partition, offset: next }] }] });
          await t.commit();
          done += batch.messages.length;
        },
      });
      await waitUntil(`100 records processed (have ${done})`, () => done >= 100, 60000);
    } finally {
      await c.disconnect();
      await p.disconnect();
    }
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [src] });
    const o = offsets[0].partitions.find((x) => x.partition === 0);
    check(o.offset === '100', JSON.stringify(offsets));
    const out = await readValues(dst, 100, false);
    check(JSON.stringify([...out].sort()) === JSON.stringify(Array.from({ length: 100 }, (_, i) => `out-${i}`).sort()), `${out.length} outputs`);
  });

  await scenario('alter-config', async () => {
    const name = `kjs-alter-${tag}`;
    await admin.createTopics({ topics: [{ topic: name, numPartitions: 1 }], waitForLeaders: true });
    const read = async () => {
      const r = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name }], includeSynonyms: false });
      return r.resources[0].configEntries.find((e) => e.configName === 'retention.ms');
    };
    const alter = (value) => admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name, configEntries: [{ name: 'retention.ms', value }] }],
    });
    await alter('12345');
    const entry = await read();
    check(entry.configValue === '12345' && !entry.isDefault, JSON.stringify(entry));
    let refused = null;
    try {
      await alter('not-a-number');
    } catch (e) {
      refused = e;
    }
    check(refused && /INVALID_CONFIG|retention\.ms/.test(String(refused.type) + String(refused.message)), `bad value accepted (${refused})`);
    check((await read()).configValue === '12345', 'unchanged after the refusal');
  });

  // A dynamic broker config of this broker (BROKER resource named by its node id). kafkajs has
  // AlterConfigs only, whose request replaces the resource's whole dynamic set: the values
  // found are sent along, and "deleting" ours is sending the set without it. kafkajs refuses
  // an empty resource name before sending, so the cluster default ("") is not reachable here.
  await scenario('alter-broker-config', async () => {
    const { brokers } = await admin.describeCluster();
    const node = String(brokers[0].nodeId);
    const key = 'log.retention.ms';
    const describe = async () => {
      const r = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: node }], includeSynonyms: false });
      return r.resources[0].configEntries;
    };
    const read = async () => (await describe()).find((e) => e.configName === key);
    const others = (await describe())
      .filter((e) => e.configSource === ConfigSource.DYNAMIC_BROKER_CONFIG && e.configName !== key)
      .map((e) => ({ name: e.configName, value: e.configValue }));
    const alter = (entries) => admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: node, configEntries: [...others, ...entries] }],
    });
    const before = await read();
    try {
      // Longer than the default: harmless to the other scenarios' topics even for a moment.
      await alter([{ name: key, value: '691200000' }]);
      const entry = await read();
      check(entry.configValue === '691200000' && entry.configSource === ConfigSource.DYNAMIC_BROKER_CONFIG && !entry.readOnly, JSON.stringify(entry));
      const kept = { name: key, value: '691200000' };
      for (const bad of [[{ name: key, value: '-5' }], [kept, { name: 'listeners', value: 'PLAINTEXT://127.0.0.1:1' }]]) {
        let refused = null;
        try {
          await alter(bad);
        } catch (e) {
          refused = e;
        }
        check(refused && refused.type === 'INVALID_REQUEST', `${JSON.stringify(bad)} accepted (${refused})`);
      }
      check((await read()).configValue === '691200000', 'unchanged after the refusals');
    } finally {
      await alter([]);
    }
    const after = await read();
    check(after.configValue === before.configValue && after.configSource === before.configSource, `reverted: ${JSON.stringify(after)} vs ${JSON.stringify(before)}`);
  });

  console.log('SKIP kafkajs groupless-subscribe (a kafkajs consumer always has a groupId)');
  console.log('SKIP kafkajs group-consumer-protocol (kafkajs has no KIP-848 consumer protocol)');
  console.log('SKIP kafkajs describe-log-dirs (kafkajs has no DescribeLogDirs API)');
  console.log('SKIP kafkajs elect-leaders (kafkajs has no ElectLeaders API)');

  await scenario('list-reassignments', async () => {
    const { topics } = await admin.listPartitionReassignments({});
    check(Array.isArray(topics) && topics.length === 0, `nothing in progress: ${JSON.stringify(topics)}`);
  });

  console.log('SKIP kafkajs describe-quorum (kafkajs has no DescribeQuorum API)');
  await secured.runAll(scenario, tag, waitUntil);

  await admin.disconnect();
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL kafkajs setup (${e && e.message})`);
  process.exit(1);
});
