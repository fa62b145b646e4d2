-- Message DB-style message store (cf. message-db's database/tables/messages.sql
-- and database/indexes/*.sql), used as the PostgreSQL peer baseline for cairn.
-- Loaded once into a throw-away cluster by bench/pg_baseline.sh.

CREATE OR REPLACE FUNCTION category(stream_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT split_part(stream_name, '-', 1) $$;

CREATE TABLE messages (
  global_position bigserial   PRIMARY KEY,
  stream_name     text        NOT NULL,
  position        bigint      NOT NULL,
  type            text        NOT NULL,
  data            jsonb,
  metadata        jsonb,
  id              uuid        NOT NULL DEFAULT gen_random_uuid(),
  time            timestamptz NOT NULL DEFAULT now(),
  -- Message DB's messages_stream index: per-stream order and the
  -- expected-version guard (two writers computing the same position collide).
  CONSTRAINT messages_stream UNIQUE (stream_name, position)
);

-- Message DB's other two indexes.
CREATE UNIQUE INDEX messages_id ON messages (id);
CREATE INDEX messages_category ON messages (
  category(stream_name),
  global_position,
  category(metadata->>'correlationStreamName')
);
