// Checks webhook deliveries that a cairn server made with the official Standard Webhooks library
// (`standardwebhooks`) and the CloudEvents SDK (`cloudevents`), both pinned by
// package-lock.json: what a serverless handler written against them would do with each request.
// For tests/integration/webhooks_test.cc.
//
// usage: node webhook_check.mjs DELIVERIES_JSON SECRET...
//   DELIVERIES_JSON: [{ "headers": { lower-case name: value }, "body": "..." }, ...] as received.
//   Every SECRET (whsec_...) must verify every delivery (a rotation signs with both secrets).
// For each delivery: Webhook.verify with each secret; HTTP.toEvent (structured mode) must give a
// valid CloudEvents 1.0 event whose id is the webhook-id; and the same delivery with one byte of
// the body changed, or correctly signed with a timestamp 10 minutes old, must be refused.
// Prints one line per delivery and "N deliveries verified"; exit status 0 only if all pass.
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { HTTP } from 'cloudevents';

const DELIVERIES_MAX = 10000;

function refuses(webhook, body, headers) {
  try {
    webhook.verify(body, headers);
    return false;
  } catch {
    return true;
  }
}

function checkOne(delivery, webhooks) {
  const { headers, body } = delivery;
  for (const webhook of webhooks) webhook.verify(body, headers);  // throws when it does not verify

  const tampered = body.replace(/.$/s, body.endsWith('}') ? ' ' : '}');
  const oldSeconds = Number(headers['webhook-timestamp']) - 600;
  for (const webhook of webhooks) {
    if (!refuses(webhook, tampered, headers)) throw new Error('a changed body verified');
    // Signed correctly, but 10 minutes old: refused for its age (the replay window) alone.
    const stale = {
      ...headers,
      'webhook-timestamp': String(oldSeconds),
      'webhook-signature': webhook.sign(headers['webhook-id'], new Date(oldSeconds * 1000), body),
    };
    if (!refuses(webhook, body, stale)) throw new Error('a timestamp 10 minutes old verified');
  }

  const event = HTTP.toEvent({ headers, body });
  if (Array.isArray(event)) throw new Error('a batch, not one structured event');
  event.validate();  // CloudEvents 1.0 schema: specversion, id, source, type, ...
  if (event.specversion !== '1.0') throw new Error(`specversion ${event.specversion}`);
  if (event.id !== headers['webhook-id']) throw new Error(`id ${event.id} is not webhook-id ${headers['webhook-id']}`);
  return event;
}

const [file, ...secrets] = process.argv.slice(2);
if (!file || secrets.length === 0) {
  console.error('usage: webhook_check.mjs DELIVERIES_JSON SECRET...');
  process.exit(2);
}
const deliveries = JSON.parse(readFileSync(file, 'utf8'));
if (!Array.isArray(deliveries) || deliveries.length === 0 || deliveries.length > DELIVERIES_MAX) {
  console.error(`webhook_check: expected 1..${DELIVERIES_MAX} deliveries`);
  process.exit(1);
}
const webhooks = secrets.map((s) => new Webhook(s));
let failed = 0;
for (const [i, delivery] of deliveries.entries()) {
  try {
    const event = checkOne(delivery, webhooks);
    // Binary data the way docs/consumers.md tells a handler to take it.
    const bytes = event.data_base64 ? ` data ${Buffer.from(event.data_base64, 'base64').toString('hex')}` : '';
    console.log(`delivery ${i}: ${event.type} ${event.id} from ${event.source} (${event.datacontenttype})${bytes}: verified`);
  } catch (e) {
    failed++;
    console.log(`delivery ${i}: FAILED: ${e.name}: ${e.message}`);
  }
}
console.log(failed === 0 ? `${deliveries.length} deliveries verified` : `${failed} of ${deliveries.length} failed`);
process.exit(failed === 0 ? 0 : 1);
