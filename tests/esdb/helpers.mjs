// Shared by the *.test.mjs files: connecting the official EventStoreDB Node.js client to the cairn
// server that tests/integration/esdb_node_test.cc started, unique stream names, and bounded
// collection of reads and subscriptions (every wait has a timeout, every loop a count limit).
//
// The server side passes (all required; nothing has a default so that a missing one fails loudly):
//   ESDB_ENDPOINT   host:port of cairn's gRPC port (TLS)
//   ESDB_CA_FILE    the CA that signed the server certificate
//   ESDB_KEY_<ROLE> whole API keys `cairn_<id>_<secret>` for ADMIN, PUBLISHER, READER, PII_READER
//   ESDB_CERT_<WHO> / ESDB_CERT_KEY_<WHO>  a client certificate and its key (PEM files) for
//                   PUBLISHER (signed by the CA the server trusts) and FOREIGN (another CA)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';

import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';

export const TEST_TIMEOUT_MS = 60_000;
export const WAIT_MS = 15_000;
export const EVENTS_MAX = 10_000;  // no read or subscription in these tests collects more

// A short id of this process: every stream and group name carries it, so test files that run at
// the same time against the same server never see each other's events.
export const RUN = randomUUID().slice(0, 8);
let counter = 0;
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix}-${RUN}-${counter}`;
}

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through integration_test`);
  return value;
}

// The key id is the part of `cairn_<id>_<secret>` between the prefix and the next '_'.
export function keyId(key) {
  assert.ok(key.startsWith('cairn_'), 'an API key starts with cairn_');
  const end = key.indexOf('_', 'cairn_'.length);
  assert.ok(end > 0, 'an API key has an id');
  return key.slice('cairn_'.length, end);
}

export function apiKey(role) {
  return env(`ESDB_KEY_${role}`);
}

// The API key as the client's Basic credentials: username = key id, password = the whole key.
export function credentialsOf(role) {
  const key = apiKey(role);
  return { username: keyId(key), password: key };
}

// A client through a connection string, as an application would configure it. `credentials`:
// { username, password } or null for none.
export function connectWith(credentials) {
  const user = credentials
    ? `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@`
    : '';
  const ca = encodeURIComponent(env('ESDB_CA_FILE'));
  return EventStoreDBClient.connectionString(
    `esdb://${user}${env('ESDB_ENDPOINT')}?tls=true&tlsCAFile=${ca}&defaultDeadline=${WAIT_MS}`);
}

// A client that authenticates with an X.509 user certificate (mTLS) and no Basic credentials.
export function connectWithCertificate(who) {
  const ca = encodeURIComponent(env('ESDB_CA_FILE'));
  const cert = encodeURIComponent(env(`ESDB_CERT_${who}`));
  const key = encodeURIComponent(env(`ESDB_CERT_KEY_${who}`));
  return EventStoreDBClient.connectionString(
    `esdb://${env('ESDB_ENDPOINT')}?tls=true&tlsCAFile=${ca}&userCertFile=${cert}` +
    `&userKeyFile=${key}&defaultDeadline=${WAIT_MS}`);
}

export function connect(role = 'ADMIN') {
  return connectWith(credentialsOf(role));
}

export function testEvent(type, data = {}, extra = {}) {
  return jsonEvent({ type, data, ...extra });
}

// Every event of a finite read (readStream / readAll), at most `max`.
export async function collect(read, max = EVENTS_MAX) {
  const events = [];
  for await (const resolved of read) {
    events.push(resolved);
    assert.ok(events.length <= max, `read returned more than ${max} events`);
  }
  return events;
}

// `promise`, or a rejection naming `what` after `ms`.
export async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Reads a subscription (or any object stream) through one async iterator so that nothing is lost
// between calls: take(n) resolves with the next n items or rejects after WAIT_MS.
export class Taker {
  constructor(stream) {
    this.iterator = stream[Symbol.asyncIterator]();
    this.pending = null;  // a next() that expectNothing() started and nobody consumed yet
  }

  next() {
    const pending = this.pending;
    this.pending = null;
    return pending ?? this.iterator.next();
  }

  async take(n, what = 'subscription events') {
    assert.ok(n > 0 && n <= EVENTS_MAX);
    const items = [];
    const loop = async () => {
      while (items.length < n) {
        const { value, done } = await this.next();
        if (done) throw new Error(`${what}: the stream ended after ${items.length} of ${n}`);
        items.push(value);
      }
      return items;
    };
    return within(loop(), WAIT_MS, `${what} (${n} expected)`);
  }

  // Asserts that nothing arrives within `ms`; what does arrive later is kept for take().
  async expectNothing(ms, what) {
    const next = this.next();
    const quiet = Symbol('quiet');
    let timer;
    const got = await Promise.race(
      [next, new Promise((resolve) => { timer = setTimeout(() => resolve(quiet), ms); })]);
    clearTimeout(timer);
    if (got === quiet) {
      this.pending = next;
      return;
    }
    assert.fail(`${what}: unexpected ${got.done ? 'end' : JSON.stringify(got.value?.event?.type)}`);
  }
}

// Resolves when `emitter` emits `name`, rejects after WAIT_MS (attach before it can happen).
export function waitFor(emitter, name) {
  return within(new Promise((resolve) => emitter.once(name, resolve)), WAIT_MS,
    `waiting for '${name}'`);
}

// The rejection of `promise`, asserting that it rejects (within WAIT_MS).
export async function rejectionOf(promise, what) {
  try {
    await within(promise, WAIT_MS, what);
  } catch (error) {
    return error;
  }
  assert.fail(`${what}: expected an error, the call succeeded`);
}

// Types and revisions of resolved events, for compact assertions.
export const typesOf = (events) => events.map((e) => e.event?.type);
export const revisionsOf = (events) => events.map((e) => e.event?.revision);
