-- kpi-ledger schema version 2: the Merkle tree over the log (crates/store/src/merkle.rs).
-- Derived from kpi_events and written after each commit: every complete subtree's hash
-- (level 0: the leaf of the event at position idx + 1, SHA-256(0x00 || its chain hash)),
-- and the number of events the stored nodes cover. Rebuilt from the log when it is lost.
CREATE TABLE kpi_merkle_nodes (
    level smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);
CREATE TABLE kpi_merkle_size (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size      bigint NOT NULL CHECK (size >= 0)
);
INSERT INTO kpi_merkle_size (size) VALUES (0);
