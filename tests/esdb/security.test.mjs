// cairn's security under the official Node.js client: no anonymous access, API keys as Basic
// credentials, the policy per event type, and field protection (masked without read.pii).
//
// The server (esdb_node_test.cc) binds: PUBLISHER may append only `OrderCreated` to `order-*`;
// READER may read `cust-*` without read.pii; PII_READER may read `cust-*` with read.pii; the
// protected type `CustomerRegistered` has /email and /name encrypted for subject /customerId.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  AccessDeniedError, StreamNotFoundError, persistentSubscriptionToStreamSettingsFromDefaults,
} from '@eventstore/db-client';

import {
  TEST_TIMEOUT_MS, Taker, apiKey, collect, connect, connectWith, connectWithCertificate,
  credentialsOf, keyId, rejectionOf, testEvent, typesOf, uniqueName,
} from './helpers.mjs';

const opts = { timeout: TEST_TIMEOUT_MS };
const UNAUTHENTICATED = 16;  // gRPC status code
const PERMISSION_DENIED = 7;
const clients = [];
let admin;
before(() => { admin = connect('ADMIN'); });
after(async () => {
  await Promise.all([admin, ...clients].map((c) => c?.dispose()));
});

function track(client) {
  clients.push(client);
  return client;
}

// The secret with its last character changed: the right id and length, the wrong key.
function wrongKey(key) {
  const last = key.at(-1) === 'A' ? 'B' : 'A';
  return key.slice(0, -1) + last;
}

function assertNotAuthenticated(error, what) {
  assert.ok(error instanceof AccessDeniedError, `${what}: got ${error}`);
  assert.equal(error.code, UNAUTHENTICATED, `${what}: ${error.message}`);
}

describe('authentication', () => {
  let stream;
  before(async () => {
    stream = uniqueName('order');
    await admin.appendToStream(stream, testEvent('OrderCreated', { id: 1 }));
  });

  test('no credentials: reads and appends are refused as not authenticated', opts, async () => {
    const anonymous = track(connectWith(null));
    assertNotAuthenticated(await rejectionOf(collect(anonymous.readStream(stream)),
      'anonymous read'), 'anonymous read');
    assertNotAuthenticated(await rejectionOf(collect(anonymous.readAll({ maxCount: 10 })),
      'anonymous read of $all'), 'anonymous read of $all');
    assertNotAuthenticated(await rejectionOf(
      anonymous.appendToStream(stream, testEvent('OrderCreated')), 'anonymous append'),
    'anonymous append');
    assertNotAuthenticated(await rejectionOf(anonymous.createPersistentSubscriptionToStream(
      stream, uniqueName('g'), persistentSubscriptionToStreamSettingsFromDefaults()),
    'anonymous group creation'), 'anonymous group creation');
    assert.equal((await collect(admin.readStream(stream))).length, 1, 'nothing was appended');
  });

  test('a subscription without credentials is refused', opts, async () => {
    const anonymous = track(connectWith(null));
    const subscription = anonymous.subscribeToStream(stream);
    const error = await rejectionOf(new Taker(subscription).take(1), 'anonymous subscription');
    assertNotAuthenticated(error, 'anonymous subscription');
  });

  test('a wrong secret, an unknown key id, a malformed key: not authenticated', opts,
    async () => {
      const key = apiKey('ADMIN');
      const cases = {
        'wrong secret': { username: keyId(key), password: wrongKey(key) },
        'unknown key id': { username: 'nobody', password: `cairn_nobody_${key.split('_').at(-1)}` },
        'malformed key': { username: keyId(key), password: 'admin' },
        'user name not matching the key': { username: 'someone-else', password: key },
      };
      for (const [what, credentials] of Object.entries(cases)) {
        const client = track(connectWith(credentials));
        assertNotAuthenticated(await rejectionOf(collect(client.readStream(stream)), what), what);
        assertNotAuthenticated(await rejectionOf(
          client.appendToStream(stream, testEvent('OrderCreated')), what), what);
      }
      assert.equal((await collect(admin.readStream(stream))).length, 1, 'nothing was appended');
    });

  test('per-call credentials override the connection default', opts, async () => {
    const anonymous = track(connectWith(null));
    const events = await collect(anonymous.readStream(stream,
      { credentials: credentialsOf('ADMIN') }));
    assert.deepEqual(typesOf(events), ['OrderCreated']);
    const error = await rejectionOf(collect(admin.readStream(stream,
      { credentials: { username: keyId(apiKey('ADMIN')), password: wrongKey(apiKey('ADMIN')) } })),
    'a wrong per-call key');
    assertNotAuthenticated(error, 'a wrong per-call key');
  });
});

describe('X.509 user certificates', () => {
  test('a client certificate is an mTLS principal under the same policy', opts, async () => {
    // The server binds mtls:esdb-cert-publisher (CN=esdb-cert-publisher,O=Acme) to the
    // publisher role: OrderCreated on order-* only.
    const client = track(connectWithCertificate('PUBLISHER'));
    const stream = uniqueName('order');
    const ok = await client.appendToStream(stream, testEvent('OrderCreated', { id: 1 }));
    assert.equal(ok.nextExpectedRevision, 0n);
    const denied = await rejectionOf(client.appendToStream(stream, testEvent('OrderPaid')),
      'OrderPaid with a publisher certificate');
    assert.ok(denied instanceof AccessDeniedError, `got ${denied}`);
    const unread = await rejectionOf(collect(client.readStream(stream)), 'read without read');
    assert.ok(unread instanceof AccessDeniedError, `got ${unread}`);
    assert.equal(unread.code, PERMISSION_DENIED, 'known but not allowed: not unauthenticated');
    assert.deepEqual(typesOf(await collect(admin.readStream(stream))), ['OrderCreated']);
  });

  test('a certificate from a CA the server does not trust gets nowhere', opts, async () => {
    const client = track(connectWithCertificate('FOREIGN'));
    const stream = uniqueName('order');
    const error = await rejectionOf(
      client.appendToStream(stream, testEvent('OrderCreated')), 'foreign certificate');
    assert.ok(error instanceof Error, `got ${error}`);
    const after = await rejectionOf(collect(admin.readStream(stream)), 'the stream was not made');
    assert.ok(after instanceof StreamNotFoundError, `got ${after}`);
  });
});

describe('policy per event type', () => {
  test('a publisher limited to OrderCreated appends it and is denied any other type', opts,
    async () => {
      const publisher = track(connect('PUBLISHER'));
      const stream = uniqueName('order');
      const ok = await publisher.appendToStream(stream, testEvent('OrderCreated', { total: 1 }));
      assert.equal(ok.nextExpectedRevision, 0n);

      const denied = await rejectionOf(
        publisher.appendToStream(stream, testEvent('OrderPaid', { total: 1 })), 'OrderPaid');
      assert.ok(denied instanceof AccessDeniedError, `got ${denied}`);  // BatchAppend: no code

      const mixed = await rejectionOf(publisher.appendToStream(stream,
        [testEvent('OrderCreated'), testEvent('OrderShipped')]), 'a batch with one denied type');
      assert.ok(mixed instanceof AccessDeniedError, `got ${mixed}`);

      const unary = await rejectionOf(publisher.appendToStream(stream, testEvent('OrderPaid'),
        { credentials: credentialsOf('PUBLISHER') }), 'OrderPaid through the unary Append');
      assert.ok(unary instanceof AccessDeniedError, `got ${unary}`);
      assert.equal(unary.code, PERMISSION_DENIED, 'denied by the policy, not unauthenticated');

      const outside = await rejectionOf(publisher.appendToStream(uniqueName('invoice'),
        testEvent('OrderCreated')), 'OrderCreated outside order-*');
      assert.ok(outside instanceof AccessDeniedError, `got ${outside}`);

      assert.deepEqual(typesOf(await collect(admin.readStream(stream))), ['OrderCreated'],
        'nothing of a denied batch was written');
    });

  test('a key without read on a stream reads nothing of it', opts, async () => {
    const stream = uniqueName('order');
    await admin.appendToStream(stream, testEvent('OrderCreated'));
    const publisher = track(connect('PUBLISHER'));  // append only
    let events = [];
    try {
      events = await collect(publisher.readStream(stream));
    } catch (error) {
      assert.ok(error instanceof AccessDeniedError || error instanceof StreamNotFoundError,
        `got ${error}`);
    }
    assert.deepEqual(events, [], 'no event reaches a reader without read');
  });
});

describe('field protection', () => {
  let stream;
  const customer = {
    customerId: 'cust-42', email: 'ada@example.com', name: 'Ada Lovelace', plan: 'gold',
  };
  before(async () => {
    stream = uniqueName('cust');
    await admin.appendToStream(stream, testEvent('CustomerRegistered', customer));
  });

  test('a reader without read.pii sees the protected fields masked', opts, async () => {
    const reader = track(connect('READER'));
    const [event] = await collect(reader.readStream(stream));
    assert.equal(event.event.type, 'CustomerRegistered');
    assert.equal(event.event.data.email, '***');
    assert.equal(event.event.data.name, '***');
    assert.equal(event.event.data.plan, 'gold', 'unprotected fields are untouched');
    assert.equal(event.event.data.customerId, 'cust-42');
    assert.ok(!JSON.stringify(event.event.data).includes('ada@example.com'));
  });

  test('a reader without read.pii gets masked fields in a subscription too', opts, async () => {
    const reader = track(connect('READER'));
    const subscription = reader.subscribeToStream(stream);
    try {
      const [event] = await new Taker(subscription).take(1, 'the protected event');
      assert.equal(event.event.data.email, '***');
      assert.equal(event.event.data.name, '***');
    } finally {
      await subscription.unsubscribe();
    }
  });

  test('a reader with read.pii sees the plaintext', opts, async () => {
    const piiReader = track(connect('PII_READER'));
    const [event] = await collect(piiReader.readStream(stream));
    assert.deepEqual(event.event.data, customer);
  });

  test('a protected event without a resolvable subject is refused', opts, async () => {
    const error = await rejectionOf(admin.appendToStream(uniqueName('cust'),
      testEvent('CustomerRegistered', { email: 'nobody@example.com' })), 'no subject');
    assert.ok(error instanceof Error);
    assert.ok(!String(error.message).includes('nobody@example.com'),
      'personal data never appears in an error');
  });
});
