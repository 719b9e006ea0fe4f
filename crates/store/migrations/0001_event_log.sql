-- kpi-ledger event log on PostgreSQL, schema version 1. Applied at open by
-- crates/store/src/pg/schema.rs, which records it in kpi_schema_version.
--
-- A row holds exactly what the sled store keeps for an event: `body` is the canonical bytes
-- the hash chain covers (postcard, see crates/store/src/lib.rs), `prev_hash` and `hash` its
-- links, so a log moved between backends keeps every hash and its digest. The other columns
-- repeat fields of the body for lookups (by stream, type, id, idempotency key); `verify`
-- checks that they agree with it.
CREATE TABLE kpi_events (
    position        bigint PRIMARY KEY CHECK (position > 0),
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL,
    stream_version  bigint NOT NULL CHECK (stream_version > 0),
    event_type      text NOT NULL,
    -- Unique over the whole log: a retry anywhere is recognised.
    idempotency_key text UNIQUE,
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    body            bytea NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX kpi_events_by_type ON kpi_events (event_type, position);

-- The last acknowledged position and its hash: one row. Every commit group locks it
-- (SELECT ... FOR UPDATE) before it assigns positions, so positions are gapless and the chain
-- has one order whichever process appends; a rolled-back group takes no position with it.
CREATE TABLE kpi_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position  bigint NOT NULL CHECK (position >= 0),
    hash      bytea NOT NULL CHECK (length(hash) = 32)
);
-- The empty log: position 0 and the genesis hash, SHA-256("kpi-ledger genesis v1").
INSERT INTO kpi_log_head (position, hash)
VALUES (0, sha256(convert_to('kpi-ledger genesis v1', 'UTF8')));

-- Append-only: events are never changed or removed (an archive restore fills an empty log).
CREATE FUNCTION kpi_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'kpi_events is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER kpi_events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON kpi_events
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_events_append_only();
