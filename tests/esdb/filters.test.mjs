// Server-side filters on $all: stream name and event type, by prefix and by regular expression.
// The 6.2.1 client's readAll has no filter argument, so filters are exercised (1) through
// subscribeToAll's catch-up (history until the caught-up signal) and (2) through a plain filtered
// Read of $all sent with the client package's own generated stubs, as clients with a filtered
// readAll (.NET, Go, Rust, Java) send it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';

import { START, eventTypeFilter, streamNameFilter } from '@eventstore/db-client';

import {
  TEST_TIMEOUT_MS, Taker, WAIT_MS, connect, credentialsOf, testEvent, uniqueName, waitFor,
  within,
} from './helpers.mjs';

const opts = { timeout: TEST_TIMEOUT_MS };
let client;
let prefix;
let typeTag;
const appended = [];  // [stream, type] in append order

before(async () => {
  client = connect('ADMIN');
  prefix = uniqueName('flt');
  typeTag = prefix.replaceAll('-', '');  // event types of this run only: no other file matches
  const plan = [
    [`${prefix}-orders-1`, `Created${typeTag}`],
    [`${prefix}-orders-1`, `Paid${typeTag}`],
    [`${prefix}-users-1`, `Created${typeTag}`],
    [`${prefix}-orders-2`, `Shipped${typeTag}`],
    [`${prefix}-users-2`, `Renamed${typeTag}`],
    [`${prefix}-orders-2`, `Paid${typeTag}`],
  ];
  for (const [stream, type] of plan) {
    await client.appendToStream(stream, testEvent(type, { stream }));
    appended.push([stream, type]);
  }
  await client.appendToStream(uniqueName('unrelated'), testEvent(`Created${typeTag}x`));
});
after(async () => { await client?.dispose(); });

const expected = (pred) => appended.filter(([stream, type]) => pred(stream, type));

// The history a filtered subscribeToAll delivers before it signals caught-up.
async function catchUp(filter, count) {
  const subscription = client.subscribeToAll({ fromPosition: START, filter });
  const caughtUp = waitFor(subscription, 'caughtUp');
  const taker = new Taker(subscription);
  try {
    const events = count > 0 ? await taker.take(count, 'filtered history') : [];
    await caughtUp;
    await taker.expectNothing(300, 'after caught-up');
    return events.map((e) => [e.event.streamId, e.event.type]);
  } finally {
    await subscription.unsubscribe();
  }
}

describe('subscribeToAll filters (catch-up)', () => {
  test('stream name prefix', opts, async () => {
    const want = expected((s) => s.startsWith(`${prefix}-orders-`));
    assert.deepEqual(await catchUp(streamNameFilter({ prefixes: [`${prefix}-orders-`] }),
      want.length), want);
  });

  test('several stream name prefixes', opts, async () => {
    const want = expected((s) => s === `${prefix}-orders-2` || s === `${prefix}-users-1`);
    assert.deepEqual(await catchUp(streamNameFilter(
      { prefixes: [`${prefix}-orders-2`, `${prefix}-users-1`] }), want.length), want);
  });

  test('stream name regex', opts, async () => {
    const want = expected((s) => /-users-\d$/.test(s));
    const regex = `^${prefix}-users-[0-9]$`;
    assert.deepEqual(await catchUp(streamNameFilter({ regex }), want.length), want);
  });

  test('event type prefix', opts, async () => {
    const want = expected((_, t) => t.startsWith('Paid'));
    assert.deepEqual(await catchUp(eventTypeFilter({ prefixes: [`Paid${typeTag}`] }),
      want.length), want);
  });

  test('event type regex', opts, async () => {
    const want = expected((_, t) => t === `Created${typeTag}` || t === `Shipped${typeTag}`);
    const regex = `^(Created|Shipped)${typeTag}$`;
    assert.deepEqual(await catchUp(eventTypeFilter({ regex }), want.length), want);
  });

  test('a filter that matches nothing still catches up', opts, async () => {
    assert.deepEqual(await catchUp(streamNameFilter({ prefixes: [`${prefix}-none-`] }), 0), []);
  });

  test('checkpoints reach the client while the filter skips events', opts, async () => {
    const checkpoints = [];
    const subscription = client.subscribeToAll({
      fromPosition: START,
      filter: eventTypeFilter({
        prefixes: [`Nothing${typeTag}`], checkpointInterval: 1,
        checkpointReached: (_, position) => { checkpoints.push(position); },
      }),
    });
    try {
      await waitFor(subscription, 'caughtUp');
      await within((async () => {
        for (let i = 0; i < 20 && checkpoints.length === 0; i += 1) {
          const noise = Array.from({ length: 20 }, () => testEvent(`Noise${typeTag}`));
          await client.appendToStream(uniqueName('cp'), noise);
        }
      })(), WAIT_MS, 'appending until a checkpoint arrives');
      assert.ok(checkpoints.length > 0, 'a filtered subscription sends checkpoints');
      assert.equal(typeof checkpoints[0].commit, 'bigint');
    } finally {
      await subscription.unsubscribe();
    }
  });
});

// A plain (non-subscription) Read of $all with a filter and a count, with the generated stubs
// and gRPC runtime that the client package itself ships and uses.
const requireFromClient = createRequire(createRequire(import.meta.url)
  .resolve('@eventstore/db-client'));
const grpc = requireFromClient('@grpc/grpc-js');
const { StreamsClient } = requireFromClient('../generated/streams_grpc_pb.js');
const { ReadReq } = requireFromClient('../generated/streams_pb.js');
const { Empty } = requireFromClient('../generated/shared_pb.js');

function rawStreamsClient() {
  const { username, password } = credentialsOf('ADMIN');
  const basic = Buffer.from(`${username}:${password}`).toString('base64');
  const callCredentials = grpc.credentials.createFromMetadataGenerator((_, callback) => {
    const metadata = new grpc.Metadata();
    metadata.add('authorization', `Basic ${basic}`);
    callback(null, metadata);
  });
  const channel = grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(readFileSync(process.env.ESDB_CA_FILE)), callCredentials);
  return new StreamsClient(process.env.ESDB_ENDPOINT, channel);
}

function filteredReadAll(raw, { streamPrefix, typeRegex, count, backwards = false }) {
  const expr = new ReadReq.Options.FilterOptions.Expression();
  const filter = new ReadReq.Options.FilterOptions();
  if (streamPrefix) {
    expr.setPrefixList([streamPrefix]);
    filter.setStreamIdentifier(expr);
  } else {
    expr.setRegex(typeRegex);
    filter.setEventType(expr);
  }
  filter.setCount(new Empty());
  filter.setCheckpointintervalmultiplier(1);
  const all = new ReadReq.Options.AllOptions();
  if (backwards) all.setEnd(new Empty()); else all.setStart(new Empty());
  const uuid = new ReadReq.Options.UUIDOption();
  uuid.setString(new Empty());
  const options = new ReadReq.Options();
  options.setAll(all);
  options.setFilter(filter);
  options.setCount(String(count));
  options.setReadDirection(backwards ? 1 : 0);
  options.setResolveLinks(false);
  options.setUuidOption(uuid);
  const req = new ReadReq();
  req.setOptions(options);
  return within(new Promise((resolve, reject) => {
    const got = [];
    const call = raw.read(req, { deadline: new Date(Date.now() + WAIT_MS) });
    call.on('data', (resp) => {
      if (!resp.hasEvent()) return;
      const event = resp.getEvent().getEvent();
      const stream = Buffer.from(event.getStreamIdentifier().getStreamName_asU8()).toString();
      got.push([stream, event.getMetadataMap().get('type')]);
    });
    call.on('error', reject);
    call.on('end', () => resolve(got));
  }), WAIT_MS, 'a filtered read of $all');
}

describe('readAll with a filter (Read without subscription)', () => {
  let raw;
  before(() => { raw = rawStreamsClient(); });
  after(() => { raw?.close(); });

  test('stream name prefix, forwards, with a count', opts, async () => {
    const want = expected((s) => s.startsWith(`${prefix}-orders-`));
    assert.deepEqual(await filteredReadAll(raw, { streamPrefix: `${prefix}-orders-`, count: 100 }),
      want);
    assert.deepEqual(await filteredReadAll(raw, { streamPrefix: `${prefix}-orders-`, count: 2 }),
      want.slice(0, 2), 'the count bounds the matching events');
  });

  test('event type regex, backwards', opts, async () => {
    const want = expected((_, t) => t.startsWith('Paid')).reverse();
    assert.deepEqual(await filteredReadAll(raw,
      { typeRegex: `^Paid${typeTag}$`, count: 100, backwards: true }), want);
  });
});
