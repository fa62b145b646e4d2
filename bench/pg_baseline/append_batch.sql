-- One batch per transaction: every element of :events (a JSON array holding the
-- batch's event payloads, shipped by the client like an event store's append
-- request) becomes one row, at positions head+0 .. head+n-1 of the client's
-- own stream ("order-<client_id>"). Same expected-version guard as
-- append_single.sql: a racing writer violates unique (stream_name, position)
-- and the whole batch rolls back. Variables: :events, :meta. Needs -M prepared.
INSERT INTO messages (stream_name, position, type, data, metadata)
SELECT 'order-' || CAST(:client_id AS text),
       head.next + e.ord - 1,
       'OrderPlaced',
       e.data,
       CAST(:meta AS jsonb)
  FROM (SELECT coalesce(max(m.position), -1) + 1 AS next
          FROM messages m
         WHERE m.stream_name = 'order-' || CAST(:client_id AS text)) AS head,
       jsonb_array_elements(CAST(:events AS jsonb)) WITH ORDINALITY AS e(data, ord);
