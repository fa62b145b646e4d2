// Appends, reads, deletes and tombstones through the official Node.js client (BatchAppend by
// default, Append when a call carries its own credentials), against cairn.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  BACKWARDS, END, FORWARDS, NO_STREAM, START, STREAM_EXISTS, ANY,
  StreamDeletedError, StreamNotFoundError, WrongExpectedVersionError, binaryEvent,
} from '@eventstore/db-client';

import {
  TEST_TIMEOUT_MS, collect, connect, credentialsOf, rejectionOf, revisionsOf, testEvent,
  typesOf, uniqueName,
} from './helpers.mjs';

const opts = { timeout: TEST_TIMEOUT_MS };
const EVENTS_CAP = 5_000;  // $all reads here: one server per test file, a few hundred events
let client;
before(() => { client = connect('ADMIN'); });
after(async () => { await client?.dispose(); });

async function appendN(stream, n, type = 'Numbered') {
  const events = Array.from({ length: n }, (_, i) => testEvent(type, { i }));
  return client.appendToStream(stream, events);
}

describe('appendToStream', () => {
  test('a single event: revision 0, a position, read back with its id, type, data, metadata', opts,
    async () => {
      const stream = uniqueName('single');
      const event = testEvent('OrderPlaced', { total: 42, items: ['a', 'b'] },
        { metadata: { correlationId: 'c-1', user: 'u' } });
      const before = Date.now();
      const result = await client.appendToStream(stream, event);
      assert.equal(result.success, true);
      assert.equal(result.nextExpectedRevision, 0n);
      assert.ok(result.position, 'the append result carries a $all position');
      assert.equal(result.position.commit, result.position.prepare);

      const [read] = await collect(client.readStream(stream));
      assert.equal(read.event.id, event.id);
      assert.equal(read.event.streamId, stream);
      assert.equal(read.event.type, 'OrderPlaced');
      assert.equal(read.event.revision, 0n);
      assert.equal(read.event.isJson, true);
      assert.deepEqual(read.event.data, { total: 42, items: ['a', 'b'] });
      assert.deepEqual(read.event.metadata, { correlationId: 'c-1', user: 'u' });
      assert.equal(read.event.position.commit, result.position.commit);
      const created = read.event.created.getTime();
      assert.ok(created >= before - 5_000 && created <= Date.now() + 5_000,
        `created ${read.event.created.toISOString()} is the append time`);
    });

  test('a batch: consecutive revisions and positions, in order', opts, async () => {
    const stream = uniqueName('batch');
    const result = await appendN(stream, 25);
    assert.equal(result.nextExpectedRevision, 24n);
    const events = await collect(client.readStream(stream));
    assert.deepEqual(revisionsOf(events), Array.from({ length: 25 }, (_, i) => BigInt(i)));
    assert.deepEqual(events.map((e) => e.event.data.i), Array.from({ length: 25 }, (_, i) => i));
    const positions = events.map((e) => e.event.position.commit);
    for (let i = 1; i < positions.length; i += 1) assert.ok(positions[i] > positions[i - 1]);
    assert.equal(positions.at(-1), result.position.commit);
  });

  test('binary events keep their bytes and content type', opts, async () => {
    const stream = uniqueName('binary');
    const bytes = Uint8Array.from([0, 1, 2, 250, 255, 10, 13]);
    await client.appendToStream(stream, binaryEvent({ type: 'Blob', data: bytes }));
    const [read] = await collect(client.readStream(stream));
    assert.equal(read.event.isJson, false);
    assert.deepEqual(Uint8Array.from(read.event.data), bytes);
  });

  test('expected state no_stream: first append succeeds, second is WrongExpectedVersion', opts,
    async () => {
      const stream = uniqueName('nostream');
      const ok = await client.appendToStream(stream, testEvent('A'),
        { expectedRevision: NO_STREAM });
      assert.equal(ok.nextExpectedRevision, 0n);
      const error = await rejectionOf(
        client.appendToStream(stream, testEvent('B'), { expectedRevision: NO_STREAM }),
        'no_stream on an existing stream');
      assert.ok(error instanceof WrongExpectedVersionError, `got ${error}`);
      assert.equal(error.streamName, stream);
      assert.equal(error.expectedVersion, NO_STREAM);
      assert.equal(error.actualVersion, 0n);
      assert.equal((await collect(client.readStream(stream))).length, 1, 'nothing was written');
    });

  test('expected state stream_exists: refused on a new stream, accepted after', opts, async () => {
    const stream = uniqueName('exists');
    const error = await rejectionOf(
      client.appendToStream(stream, testEvent('A'), { expectedRevision: STREAM_EXISTS }),
      'stream_exists on a new stream');
    assert.ok(error instanceof WrongExpectedVersionError, `got ${error}`);
    assert.equal(error.expectedVersion, STREAM_EXISTS);
    assert.equal(error.actualVersion, NO_STREAM);
    await client.appendToStream(stream, testEvent('A'));
    const ok = await client.appendToStream(stream, testEvent('B'),
      { expectedRevision: STREAM_EXISTS });
    assert.equal(ok.nextExpectedRevision, 1n);
  });

  test('expected state any: appends to a new and to an existing stream', opts, async () => {
    const stream = uniqueName('any');
    assert.equal((await client.appendToStream(stream, testEvent('A'),
      { expectedRevision: ANY })).nextExpectedRevision, 0n);
    assert.equal((await client.appendToStream(stream, testEvent('B'),
      { expectedRevision: ANY })).nextExpectedRevision, 1n);
  });

  test('an exact revision: accepted when current, WrongExpectedVersion with both revisions else',
    opts, async () => {
      const stream = uniqueName('exact');
      await appendN(stream, 3);
      const ok = await client.appendToStream(stream, testEvent('Next'), { expectedRevision: 2n });
      assert.equal(ok.nextExpectedRevision, 3n);
      const error = await rejectionOf(
        client.appendToStream(stream, testEvent('Stale'), { expectedRevision: 1n }),
        'a stale revision');
      assert.ok(error instanceof WrongExpectedVersionError, `got ${error}`);
      assert.equal(error.streamName, stream);
      assert.equal(error.expectedVersion, 1n);
      assert.equal(error.actualVersion, 3n);
      const onMissing = await rejectionOf(
        client.appendToStream(uniqueName('missing'), testEvent('X'), { expectedRevision: 5n }),
        'a revision on a missing stream');
      assert.ok(onMissing instanceof WrongExpectedVersionError, `got ${onMissing}`);
      assert.equal(onMissing.expectedVersion, 5n);
      assert.equal(onMissing.actualVersion, NO_STREAM);
      assert.deepEqual(typesOf(await collect(client.readStream(stream))),
        ['Numbered', 'Numbered', 'Numbered', 'Next']);
    });

  test('the unary Append (a call with its own credentials) gives the same results', opts,
    async () => {
      const stream = uniqueName('unary');
      const credentials = credentialsOf('ADMIN');
      const ok = await client.appendToStream(stream, [testEvent('A'), testEvent('B')],
        { credentials, expectedRevision: NO_STREAM });
      assert.equal(ok.nextExpectedRevision, 1n);
      const error = await rejectionOf(
        client.appendToStream(stream, testEvent('C'), { credentials, expectedRevision: 0n }),
        'unary append with a stale revision');
      assert.ok(error instanceof WrongExpectedVersionError, `got ${error}`);
      assert.equal(error.expectedVersion, 0n);
      assert.equal(error.actualVersion, 1n);
    });

  test('re-sending the same event id right after is idempotent', opts, async () => {
    const stream = uniqueName('idem');
    const event = testEvent('Once');
    await client.appendToStream(stream, event);
    await client.appendToStream(stream, event);
    assert.equal((await collect(client.readStream(stream))).length, 1);
  });
});

describe('readStream', () => {
  let stream;
  before(async () => {
    stream = uniqueName('read');
    await appendN(stream, 10);
  });

  test('forwards from the start, all events', opts, async () => {
    const events = await collect(client.readStream(stream, { direction: FORWARDS }));
    assert.deepEqual(revisionsOf(events), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  });

  test('forwards with maxCount and fromRevision', opts, async () => {
    const events = await collect(client.readStream(stream, { fromRevision: 3n, maxCount: 4 }));
    assert.deepEqual(revisionsOf(events), [3n, 4n, 5n, 6n]);
    const tail = await collect(client.readStream(stream, { fromRevision: 8n, maxCount: 100 }));
    assert.deepEqual(revisionsOf(tail), [8n, 9n]);
    const past = await collect(client.readStream(stream, { fromRevision: 50n }));
    assert.deepEqual(past, []);
  });

  test('backwards from the end and from a revision, with maxCount', opts, async () => {
    const fromEnd = await collect(client.readStream(stream,
      { direction: BACKWARDS, fromRevision: END, maxCount: 3 }));
    assert.deepEqual(revisionsOf(fromEnd), [9n, 8n, 7n]);
    const fromFive = await collect(client.readStream(stream,
      { direction: BACKWARDS, fromRevision: 5n, maxCount: 10 }));
    assert.deepEqual(revisionsOf(fromFive), [5n, 4n, 3n, 2n, 1n, 0n]);
  });

  test('a missing stream is StreamNotFoundError', opts, async () => {
    const missing = uniqueName('nosuch');
    const error = await rejectionOf(collect(client.readStream(missing)), 'read a missing stream');
    assert.ok(error instanceof StreamNotFoundError, `got ${error}`);
    assert.equal(error.streamName, missing);
  });
});

describe('readAll', () => {
  test('forwards from the start and backwards from the end, positions ordered', opts,
    async () => {
      const stream = uniqueName('all');
      const result = await appendN(stream, 5, 'AllProbe');
      const forwards = await collect(client.readAll({ fromPosition: START, maxCount: EVENTS_CAP }));
      const mine = forwards.filter((e) => e.event?.streamId === stream);
      assert.deepEqual(revisionsOf(mine), [0n, 1n, 2n, 3n, 4n]);
      const commits = forwards.map((e) => e.event.position.commit);
      for (let i = 1; i < commits.length; i += 1) assert.ok(commits[i] > commits[i - 1]);

      const backwards = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END,
        maxCount: 5 }));
      assert.equal(backwards.length, 5);
      const back = backwards.map((e) => e.event.position.commit);
      for (let i = 1; i < back.length; i += 1) assert.ok(back[i] < back[i - 1]);
      assert.ok(back[0] >= result.position.commit);
    });

  test('from a position: the events at and after it', opts, async () => {
    const stream = uniqueName('allpos');
    await appendN(stream, 4, 'PosProbe');
    const mine = (await collect(client.readAll({ maxCount: EVENTS_CAP })))
      .filter((e) => e.event?.streamId === stream);
    const from = mine[2].event.position;
    const rest = await collect(client.readAll({ fromPosition: from, maxCount: 2 }));
    assert.deepEqual(rest.map((e) => [e.event.streamId, e.event.revision]),
      [[stream, 2n], [stream, 3n]]);
  });
});

describe('deleteStream and tombstoneStream', () => {
  test('deleteStream: reads fail (deleted or not found), appends are refused', opts, async () => {
    const stream = uniqueName('del');
    await appendN(stream, 2);
    const deleted = await client.deleteStream(stream);
    assert.ok(deleted.position === undefined || typeof deleted.position.commit === 'bigint');
    const readError = await rejectionOf(collect(client.readStream(stream)), 'read after delete');
    assert.ok(readError instanceof StreamDeletedError || readError instanceof StreamNotFoundError,
      `got ${readError}`);
    const appendError = await rejectionOf(client.appendToStream(stream, testEvent('After')),
      'append after delete');
    assert.ok(appendError instanceof StreamDeletedError, `got ${appendError}`);
    assert.equal(appendError.streamName, stream);
  });

  test('deleteStream with a stale expected revision is WrongExpectedVersion', opts, async () => {
    const stream = uniqueName('delwev');
    await appendN(stream, 3);
    const error = await rejectionOf(client.deleteStream(stream, { expectedRevision: 0n }),
      'delete with a stale revision');
    assert.ok(error instanceof WrongExpectedVersionError, `got ${error}`);
    assert.equal((await collect(client.readStream(stream))).length, 3, 'the stream is intact');
  });

  test('tombstoneStream: reads and appends are StreamDeletedError', opts, async () => {
    const stream = uniqueName('tomb');
    await appendN(stream, 2);
    await client.tombstoneStream(stream);
    const readError = await rejectionOf(collect(client.readStream(stream)), 'read a tombstone');
    assert.ok(readError instanceof StreamDeletedError, `got ${readError}`);
    const appendError = await rejectionOf(client.appendToStream(stream, testEvent('After')),
      'append to a tombstone');
    assert.ok(appendError instanceof StreamDeletedError, `got ${appendError}`);
    assert.equal(appendError.streamName, stream);
    const again = await rejectionOf(client.tombstoneStream(stream), 'tombstone twice');
    assert.ok(again instanceof StreamDeletedError, `got ${again}`);
  });
});
