// Catch-up subscriptions through the official Node.js client: history first, the caught-up
// signal, then events appended while subscribed, for one stream and for $all.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { END, START, streamNameFilter } from '@eventstore/db-client';

import {
  TEST_TIMEOUT_MS, Taker, connect, revisionsOf, testEvent, typesOf, uniqueName, waitFor,
} from './helpers.mjs';

const opts = { timeout: TEST_TIMEOUT_MS };
const QUIET_MS = 500;
let client;
before(() => { client = connect('ADMIN'); });
after(async () => { await client?.dispose(); });

const events = (type, n) => Array.from({ length: n }, (_, i) => testEvent(type, { i }));

describe('subscribeToStream', () => {
  test('catch-up from the start, caught up, then live appends in order', opts, async () => {
    const stream = uniqueName('sub');
    const other = uniqueName('sub-other');
    await client.appendToStream(stream, events('Past', 3));
    const subscription = client.subscribeToStream(stream, { fromRevision: START });
    const caughtUp = waitFor(subscription, 'caughtUp');
    const taker = new Taker(subscription);
    try {
      const past = await taker.take(3, 'history');
      assert.deepEqual(revisionsOf(past), [0n, 1n, 2n]);
      assert.deepEqual(typesOf(past), ['Past', 'Past', 'Past']);
      await caughtUp;

      await client.appendToStream(other, events('Elsewhere', 2));
      await client.appendToStream(stream, events('Live', 2));
      const live = await taker.take(2, 'live events');
      assert.deepEqual(revisionsOf(live), [3n, 4n]);
      assert.deepEqual(typesOf(live), ['Live', 'Live']);
      assert.ok(live.every((e) => e.event.streamId === stream), 'only the subscribed stream');
      await taker.expectNothing(QUIET_MS, 'after the live events');
    } finally {
      await subscription.unsubscribe();
    }
  });

  test('from a revision: the events after it, then live', opts, async () => {
    const stream = uniqueName('subrev');
    await client.appendToStream(stream, events('Past', 5));
    const subscription = client.subscribeToStream(stream, { fromRevision: 2n });
    const taker = new Taker(subscription);
    try {
      assert.deepEqual(revisionsOf(await taker.take(2, 'history after 2')), [3n, 4n]);
      await client.appendToStream(stream, testEvent('Live'));
      assert.deepEqual(revisionsOf(await taker.take(1, 'live')), [5n]);
    } finally {
      await subscription.unsubscribe();
    }
  });

  test('from the end: only what is appended afterwards, also to a new stream', opts, async () => {
    const stream = uniqueName('subend');
    const subscription = client.subscribeToStream(stream, { fromRevision: END });
    const taker = new Taker(subscription);
    try {
      await waitFor(subscription, 'confirmation');
      await client.appendToStream(stream, events('First', 2));
      const live = await taker.take(2, 'events of a stream created after subscribing');
      assert.deepEqual(revisionsOf(live), [0n, 1n]);
    } finally {
      await subscription.unsubscribe();
    }
  });
});

describe('subscribeToAll', () => {
  test('catch-up over $all (filtered to this test), caught up, then live', opts, async () => {
    const prefix = uniqueName('suball');
    const a = `${prefix}-a`;
    const b = `${prefix}-b`;
    await client.appendToStream(a, events('PastA', 2));
    await client.appendToStream(b, events('PastB', 1));
    const subscription = client.subscribeToAll({
      fromPosition: START, filter: streamNameFilter({ prefixes: [prefix] }),
    });
    const caughtUp = waitFor(subscription, 'caughtUp');
    const taker = new Taker(subscription);
    try {
      const past = await taker.take(3, 'history');
      assert.deepEqual(past.map((e) => [e.event.streamId, e.event.revision]),
        [[a, 0n], [a, 1n], [b, 0n]]);
      await caughtUp;
      await client.appendToStream(uniqueName('not-mine'), testEvent('Ignored'));
      await client.appendToStream(b, events('LiveB', 2));
      await client.appendToStream(a, testEvent('LiveA'));
      const live = await taker.take(3, 'live events');
      assert.deepEqual(live.map((e) => [e.event.streamId, e.event.type]),
        [[b, 'LiveB'], [b, 'LiveB'], [a, 'LiveA']]);
      const commits = [...past, ...live].map((e) => e.event.position.commit);
      for (let i = 1; i < commits.length; i += 1) assert.ok(commits[i] > commits[i - 1]);
      await taker.expectNothing(QUIET_MS, 'after the live events');
    } finally {
      await subscription.unsubscribe();
    }
  });

  test('from the end of $all: no history, live events only', opts, async () => {
    const prefix = uniqueName('suballend');
    await client.appendToStream(`${prefix}-x`, events('Before', 3));
    const subscription = client.subscribeToAll({
      fromPosition: END, filter: streamNameFilter({ prefixes: [prefix] }),
    });
    const taker = new Taker(subscription);
    try {
      await waitFor(subscription, 'confirmation');
      await client.appendToStream(`${prefix}-x`, testEvent('After'));
      const [live] = await taker.take(1, 'the live event');
      assert.equal(live.event.type, 'After');
      assert.equal(live.event.revision, 3n);
    } finally {
      await subscription.unsubscribe();
    }
  });

  test('from a position: the events after it', opts, async () => {
    const prefix = uniqueName('suballpos');
    const first = await client.appendToStream(`${prefix}-x`, testEvent('One'));
    await client.appendToStream(`${prefix}-x`, testEvent('Two'));
    const subscription = client.subscribeToAll({
      fromPosition: first.position, filter: streamNameFilter({ prefixes: [prefix] }),
    });
    const taker = new Taker(subscription);
    try {
      const [next] = await taker.take(1, 'the event after the position');
      assert.equal(next.event.type, 'Two', 'subscribing from a position excludes that event');
    } finally {
      await subscription.unsubscribe();
    }
  });
});
