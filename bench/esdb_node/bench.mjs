// Throughput of the official EventStoreDB Node.js client (@eventstore/db-client, installed by
// `make esdb-node`) against cairn's EventStoreDB-compatible gRPC services — the same shape of
// load as `cairn bench append|read` on cairn.v1:
//   append:     N clients (each its own connection), each appending batches of B events of S bytes
//               of JSON to its own stream, one call in flight per client, for at most D seconds
//               and at most E events in all;
//   readstream: the same N clients each read their own stream from the start, again and again;
//   readall:    R clients each read the whole of $all from the start, again and again;
// each read phase for at most D seconds. --phases picks and orders them; readstream reads the
// streams that an append phase with the same --run id wrote. Prints one JSON line per phase.
//
//   node bench.mjs --modules DIR --endpoint HOST:PORT --ca FILE --key-file FILE [--clients N]
//     [--batch B] [--event-size-bytes S] [--duration-s D] [--events-max E] [--readers R]
//     [--phases append,readstream,readall] [--run ID]
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    modules: { type: 'string' },
    endpoint: { type: 'string' },
    ca: { type: 'string' },
    'key-file': { type: 'string' },
    clients: { type: 'string', default: '8' },
    batch: { type: 'string', default: '100' },
    'event-size-bytes': { type: 'string', default: '256' },
    'duration-s': { type: 'string', default: '10' },
    'events-max': { type: 'string', default: '10000000' },
    readers: { type: 'string', default: '2' },
    phases: { type: 'string', default: 'append,readstream,readall' },
    run: { type: 'string', default: Math.random().toString(16).slice(2, 10) },
  },
});
for (const required of ['modules', 'endpoint', 'ca', 'key-file']) {
  assert.ok(args[required], `--${required} is required`);
}
const CLIENTS = Number(args.clients);
const BATCH = Number(args.batch);
const EVENT_SIZE_BYTES = Number(args['event-size-bytes']);
const DURATION_MS = Number(args['duration-s']) * 1000;
const EVENTS_MAX = Number(args['events-max']);
const READERS = Number(args.readers);
assert.ok(CLIENTS >= 1 && CLIENTS <= 256, 'clients in 1..256');
assert.ok(BATCH >= 1 && BATCH <= 1000, 'batch in 1..1000 (cairn\'s batch limit)');
assert.ok(READERS >= 1 && READERS <= 64, 'readers in 1..64');
assert.ok(DURATION_MS > 0 && DURATION_MS <= 600_000, 'duration in (0, 600] s');
const PHASES = args.phases.split(',');
assert.ok(PHASES.every((p) => ['append', 'readstream', 'readall'].includes(p)), '--phases');
assert.ok(/^[a-z0-9]{1,16}$/.test(args.run), '--run: 1..16 of [a-z0-9]');

// The client from the build tree's node_modules (a CommonJS package).
const { EventStoreDBClient, jsonEvent, START } =
  createRequire(join(resolve(args.modules), 'package.json'))('@eventstore/db-client');

const key = readFileSync(args['key-file'], 'utf8').trim();
const keyId = key.slice('cairn_'.length, key.indexOf('_', 'cairn_'.length));

function connect() {
  const user = `${encodeURIComponent(keyId)}:${encodeURIComponent(key)}`;
  return EventStoreDBClient.connectionString(
    `esdb://${user}@${args.endpoint}?tls=true&tlsCAFile=${encodeURIComponent(args.ca)}`);
}

// The same JSON as cairn bench's BenchEventData: {"seq":N,"pad":"xxx…"} of EVENT_SIZE_BYTES.
function eventData(seq) {
  const head = `{"seq":${seq},"pad":"`;
  const pad = Math.max(0, EVENT_SIZE_BYTES - head.length - 2);
  return JSON.parse(`${head}${'x'.repeat(pad)}"}`);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// `cpu` is process.cpuUsage() at the start of the phase: the share of one core this process used.
function report(phase, clients, events, ms, latenciesMs, cpu) {
  latenciesMs.sort((a, b) => a - b);
  const used = process.cpuUsage(cpu);
  console.log(JSON.stringify({
    client: 'esdb-node', phase, clients, batch: phase === 'append' ? BATCH : undefined,
    events, seconds: ms / 1000, events_per_s: events / (ms / 1000),
    p50_ms: percentile(latenciesMs, 0.5), p99_ms: percentile(latenciesMs, 0.99),
    client_cpu_share: (used.user + used.system) / 1000 / ms,
  }));
}

// Runs `call(client, i, deadline)` from every client, one call in flight per client, until the
// deadline or until a call returns null; a call returns how many events it moved.
async function runPhase(phase, clients, call) {
  let events = 0;
  const latencies = [];
  const cpu = process.cpuUsage();
  const start = performance.now();
  const deadline = start + DURATION_MS;
  await Promise.all(clients.map(async (client, i) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const moved = await call(client, i, deadline);
      if (moved === null) return;
      events += moved;
      latencies.push(performance.now() - t0);
    }
  }));
  report(phase, clients.length, events, performance.now() - start, latencies, cpu);
}

function appendPhase(clients, streams) {
  let reserved = 0;  // events_max is reserved before each call, as in cairn bench
  const seqs = clients.map(() => 0);
  return runPhase('append', clients, async (client, i) => {
    if (reserved + BATCH > EVENTS_MAX) return null;
    reserved += BATCH;
    const batch = Array.from({ length: BATCH },
      (_, k) => jsonEvent({ type: 'BenchEvent', data: eventData(seqs[i] + k) }));
    seqs[i] += BATCH;
    await client.appendToStream(streams[i], batch);
    return BATCH;
  });
}

// Each client reads `source()` to its end (or to the deadline), again and again.
function readPhase(phase, clients, source) {
  return runPhase(phase, clients, async (client, i, deadline) => {
    let got = 0;
    const read = source(client, i);
    for await (const resolved of read) {
      got += resolved.event ? 1 : 0;
      if (performance.now() >= deadline) {
        await read.cancel();
        break;
      }
    }
    assert.ok(got > 0, `${phase}: nothing to read`);
    return got;
  });
}

const run = args.run;
const streams = Array.from({ length: CLIENTS }, (_, i) => `esdb-bench-${run}-${i}`);
const clients = Array.from({ length: CLIENTS }, connect);
const readers = Array.from({ length: READERS }, connect);
try {
  // Connect (TLS, credentials, server features) before the clock starts, as cairn bench does.
  await Promise.all([...clients, ...readers].map((c) =>
    c.appendToStream(`esdb-bench-${run}-warmup`, jsonEvent({ type: 'Warmup', data: {} }))));
  for (const phase of PHASES) {
    if (phase === 'append') await appendPhase(clients, streams);
    if (phase === 'readstream') {
      await readPhase(phase, clients,
        (client, i) => client.readStream(streams[i], { fromRevision: START }));
    }
    if (phase === 'readall') {
      await readPhase(phase, readers, (client) => client.readAll({ fromPosition: START }));
    }
  }
} finally {
  await Promise.all([...clients, ...readers].map((c) => c.dispose()));
}
