-- One event per transaction, appended at the next position of the client's
-- own stream ("order-<client_id>"). The position is read from the stream's
-- head inside the INSERT (index-only scan on messages_stream); the unique
-- (stream_name, position) constraint turns a concurrent writer on the same
-- stream into a failed transaction, as an expected-version check would.
-- Variables: :event (one JSON object), :meta (metadata object). Needs -M prepared.
INSERT INTO messages (stream_name, position, type, data, metadata)
SELECT 'order-' || CAST(:client_id AS text),
       (SELECT coalesce(max(m.position), -1) + 1
          FROM messages m
         WHERE m.stream_name = 'order-' || CAST(:client_id AS text)),
       'OrderPlaced',
       CAST(:event AS jsonb),
       CAST(:meta AS jsonb);
