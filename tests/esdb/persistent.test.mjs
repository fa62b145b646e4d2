// Persistent subscriptions through the official Node.js client, to a stream and to $all: create,
// connect, ack, nack retry (redelivered), nack park (parked), replay parked (redelivered), info,
// list, delete, and the errors for an existing or a missing group.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  PARK, RETRY, START, PersistentSubscriptionDoesNotExistError, PersistentSubscriptionExistsError,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults, excludeSystemEvents, streamNameFilter,
} from '@eventstore/db-client';

import {
  TEST_TIMEOUT_MS, Taker, WAIT_MS, connect, rejectionOf, testEvent, uniqueName, within,
} from './helpers.mjs';

const opts = { timeout: TEST_TIMEOUT_MS };
const DELIVERIES_MAX = 20;
const POLL_MS = 100;
let client;
before(() => { client = connect('ADMIN'); });
after(async () => { await client?.dispose(); });

const batch = () => [testEvent('Ack1'), testEvent('Retry'), testEvent('Park'), testEvent('Ack2')];

// Consumes deliveries until every event of batch() is settled: acks Ack1/Ack2, nacks Retry once
// with RETRY and acks its redelivery, parks Park. Returns what happened, for the assertions.
async function settleBatch(subscription, taker) {
  const seen = { acked: [], retried: 0, redeliveredRetryCount: undefined, parked: 0 };
  for (let i = 0; i < DELIVERIES_MAX; i += 1) {
    if (seen.acked.length === 3 && seen.parked === 1) return seen;
    const [delivery] = await taker.take(1, 'a persistent delivery');
    const type = delivery.event.type;
    if (type === 'Park') {
      await subscription.nack(PARK, 'parked by the test', delivery);
      seen.parked += 1;
    } else if (type === 'Retry' && seen.retried === 0) {
      assert.equal(delivery.retryCount, 0, 'first delivery');
      await subscription.nack(RETRY, 'retried by the test', delivery);
      seen.retried += 1;
    } else {
      if (type === 'Retry') seen.redeliveredRetryCount = delivery.retryCount;
      await subscription.ack(delivery);
      seen.acked.push(type);
    }
  }
  assert.fail(`not settled after ${DELIVERIES_MAX} deliveries: ${JSON.stringify(seen)}`);
}

const bigintsAsStrings = (_, v) => (typeof v === 'bigint' ? `${v}` : v);

// Polls `read` until `pred` holds (bounded by WAIT_MS), returning the last value read.
async function eventually(read, pred, what) {
  let last;
  await within((async () => {
    for (;;) {
      last = await read();
      if (pred(last)) return;
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
    }
  })(), WAIT_MS, `${what} (last: ${JSON.stringify(last, bigintsAsStrings)})`);
  return last;
}

// The whole life of a group; `api` hides whether it is to a stream or to $all.
async function exerciseGroup(api) {
  await api.create();
  const duplicate = await rejectionOf(api.create(), 'creating the same group twice');
  assert.ok(duplicate instanceof PersistentSubscriptionExistsError, `got ${duplicate}`);

  await api.append(batch());
  const subscription = api.subscribe();
  const taker = new Taker(subscription);
  try {
    const seen = await settleBatch(subscription, taker);
    assert.deepEqual([...seen.acked].sort(), ['Ack1', 'Ack2', 'Retry']);
    assert.ok(seen.redeliveredRetryCount >= 1, 'a retried event comes back with its retry count');
    assert.equal(seen.parked, 1);

    const parkedInfo = await eventually(api.info, (info) => info.stats.parkedMessageCount === 1n,
      'the parked event is counted');
    assert.equal(parkedInfo.groupName, api.group);
    assert.equal(parkedInfo.eventSource, api.source);
    assert.equal(parkedInfo.settings.maxRetryCount, 5, 'settings are kept');

    await api.replayParked();
    const [replayed] = await taker.take(1, 'the replayed parked event');
    assert.equal(replayed.event.type, 'Park');
    await subscription.ack(replayed);
    await eventually(api.info, (info) => info.stats.parkedMessageCount === 0n,
      'nothing parked after the replay was acked');

    await api.append([testEvent('Live')]);
    const [live] = await taker.take(1, 'an event appended while connected');
    assert.equal(live.event.type, 'Live');
    await subscription.ack(live);
    await taker.expectNothing(300, 'after everything was acked');

    const listed = await api.list();
    const mine = (info) => info.groupName === api.group && info.eventSource === api.source;
    assert.ok(listed.some(mine),
      `listed: ${listed.map((info) => `${info.eventSource}/${info.groupName}`).join(', ')}`);
    const everywhere = await client.listAllPersistentSubscriptions();
    assert.ok(everywhere.some((info) => info.groupName === api.group));
  } finally {
    await subscription.unsubscribe();
  }

  await api.remove();
  const missing = await rejectionOf(api.info(), 'info of a deleted group');
  assert.ok(missing instanceof PersistentSubscriptionDoesNotExistError, `got ${missing}`);
  const again = await rejectionOf(api.remove(), 'deleting a deleted group');
  assert.ok(again instanceof PersistentSubscriptionDoesNotExistError, `got ${again}`);
}

describe('persistent subscription to a stream', () => {
  test('create, ack, nack retry and park, replay parked, info, list, delete', opts, async () => {
    const stream = uniqueName('ps');
    const group = uniqueName('group');
    const settings = persistentSubscriptionToStreamSettingsFromDefaults(
      { startFrom: START, maxRetryCount: 5 });
    await exerciseGroup({
      group,
      source: stream,
      create: () => client.createPersistentSubscriptionToStream(stream, group, settings),
      append: (events) => client.appendToStream(stream, events),
      subscribe: () => client.subscribeToPersistentSubscriptionToStream(stream, group),
      info: () => client.getPersistentSubscriptionToStreamInfo(stream, group),
      list: () => client.listPersistentSubscriptionsToStream(stream),
      replayParked: () => client.replayParkedMessagesToStream(stream, group),
      remove: () => client.deletePersistentSubscriptionToStream(stream, group),
    });
  });

  test('connecting to a group that does not exist fails', opts, async () => {
    const subscription = client.subscribeToPersistentSubscriptionToStream(
      uniqueName('ps-none'), uniqueName('group-none'));
    const error = await rejectionOf(new Taker(subscription).take(1), 'connect to a missing group');
    assert.ok(error instanceof PersistentSubscriptionDoesNotExistError, `got ${error}`);
  });
});

describe('persistent subscription to $all', () => {
  test('create with a filter, ack, nack retry and park, replay parked, info, list, delete', opts,
    async () => {
      const prefix = uniqueName('psall');
      const group = uniqueName('group-all');
      const settings = persistentSubscriptionToAllSettingsFromDefaults(
        { startFrom: START, maxRetryCount: 5 });
      let n = 0;
      await client.appendToStream(uniqueName('psall-outside'), testEvent('Park'));  // filtered out
      await exerciseGroup({
        group,
        source: '$all',
        create: () => client.createPersistentSubscriptionToAll(group, settings,
          { filter: streamNameFilter({ prefixes: [prefix] }) }),
        append: (events) => { n += 1; return client.appendToStream(`${prefix}-${n}`, events); },
        subscribe: () => client.subscribeToPersistentSubscriptionToAll(group),
        info: () => client.getPersistentSubscriptionToAllInfo(group),
        list: () => client.listPersistentSubscriptionsToAll(),
        replayParked: () => client.replayParkedMessagesToAll(group),
        remove: () => client.deletePersistentSubscriptionToAll(group),
      });
    });

  test('excludeSystemEvents() is accepted (a cairn group never delivers system events); a regex '
    + 'filter is refused and no group is made', opts, async () => {
    const group = uniqueName('group-nosys');
    await client.appendToStream(uniqueName('nosys'), testEvent('Ack1'));  // $all is not empty
    const start = persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START });
    await client.createPersistentSubscriptionToAll(group, start, { filter: excludeSystemEvents() });
    const info = await client.getPersistentSubscriptionToAllInfo(group);
    assert.equal(info.groupName, group);
    const subscription = client.subscribeToPersistentSubscriptionToAll(group);
    try {
      const [first] = await new Taker(subscription).take(1, 'the first event of $all');
      assert.ok(!first.event.streamId.startsWith('$'), `a system event: ${first.event.streamId}`);
    } finally {
      await subscription.unsubscribe();
    }
    await client.deletePersistentSubscriptionToAll(group);

    const refused = uniqueName('group-regex');
    const error = await rejectionOf(client.createPersistentSubscriptionToAll(refused, start,
      { filter: streamNameFilter({ regex: '^order-' }) }), 'a regex filter');
    assert.match(String(error.message), /regular-expression filters are not supported/);
    const missing = await rejectionOf(client.getPersistentSubscriptionToAllInfo(refused),
      'the refused group');
    assert.ok(missing instanceof PersistentSubscriptionDoesNotExistError, `got ${missing}`);
  });
});
