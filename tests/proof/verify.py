#!/usr/bin/env python3
"""Checks a kpi-ledger cell proof bundle offline, independently of the Rust code.

    python3 tests/proof/verify.py BUNDLE.json --public-key PUBLIC_KEY_FILE

Uses only the standard library (hashlib, json, decimal) and the `cryptography` package
for Ed25519. Checks, in order:

1. the signed tree head: the key fingerprint, then the Ed25519 signature over
   b"kpi-ledger signed tree head v1\\0" + tree_size (u64 BE) + root_hash + timestamp_ms (u64 BE);
2. every event: SHA-256(prev_hash + position (u64 BE) + body) is its chain hash, and its
   inclusion proof leads from SHA-256(0x00 + chain hash) to the signed root (RFC 9162
   section 2.1.3.2);
3. for cells whose rule is a sum ("aggregation": "sum"), the figure: each source's field
   (or 1 for a count) summed over the bundle's events of that kind that pass its filters,
   after applying the bundle's corrections and retractions. Other rules are reported as not
   recomputed here (the Rust verifier recomputes every rule with the ledger's own fold).

Exit status 0 when everything checks, 1 with a message naming what failed.
"""

import argparse
import hashlib
import json
import sys
import uuid
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEAD_CONTEXT = b"kpi-ledger signed tree head v1\x00"
FORMAT = "kpi-ledger cell proof bundle v1"


class Failed(Exception):
    pass


def sha256(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def read_key(path):
    lines = [l.strip() for l in open(path, encoding="utf-8")]
    digits = "".join(l for l in lines if l and not l.startswith("#"))
    key = bytes.fromhex(digits)
    if len(key) != 32:
        raise Failed(f"{path}: not an Ed25519 public key (expected 64 hex digits)")
    return key


def check_head(head, public_key):
    fingerprint = hashlib.sha256(public_key).hexdigest()
    if head["key_fingerprint"] != fingerprint:
        raise Failed(
            f"the head was signed by the key with fingerprint {head['key_fingerprint']}, "
            f"not by the given public key (fingerprint {fingerprint})"
        )
    root = bytes.fromhex(head["root_hash"])
    message = (
        HEAD_CONTEXT
        + head["tree_size"].to_bytes(8, "big")
        + root
        + head["timestamp_ms"].to_bytes(8, "big")
    )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            bytes.fromhex(head["signature"]), message
        )
    except InvalidSignature:
        raise Failed(
            f"the head's signature does not match (tree size {head['tree_size']}, "
            f"root {head['root_hash']})"
        )
    return head["tree_size"], root


def root_from_path(index, size, leaf, proof):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


class Reader:
    """The postcard encoding of an event's canonical bytes (crates/store/src/lib.rs)."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def byte(self):
        b = self.data[self.at]
        self.at += 1
        return b

    def varint(self):
        value, shift = 0, 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def zigzag(self):
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def raw(self, n):
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def text(self):
        return self.raw(self.varint()).decode("utf-8")

    def option(self, read):
        return read() if self.byte() == 1 else None


def decode_body(body):
    r = Reader(body)
    event_id = str(uuid.UUID(bytes=r.raw(16)))
    r.text()  # stream_id
    r.varint()  # stream_version
    event_type = r.text()
    r.varint()  # schema_version
    if r.varint() == 0:  # occurred: date
        r.zigzag()
    else:  # instant
        r.zigzag()
        r.varint()
    r.zigzag()  # recorded_at seconds
    r.varint()  # nanoseconds
    r.text()  # actor
    r.option(r.text)  # provenance
    r.option(r.text)  # idempotency_key
    payload = json.loads(r.raw(r.varint()))
    if r.at != len(body):
        raise ValueError(f"{len(body) - r.at} bytes after the payload")
    return event_id, event_type, payload


def field(payload, path):
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def recompute_sum(kpi, events):
    """events: (event_id, event_type, payload) in log order."""
    live = {}
    for event_id, event_type, payload in events:
        if event_type == "correction":
            target = payload["target"]
            live[target] = (payload.get("target_type", live.get(target, (None,))[0]),
                            payload["replacement"])
        elif event_type == "retraction":
            live.pop(payload["target"], None)
        else:
            live[event_id] = (event_type, payload)
    total = Decimal(0)
    for event_type, payload in live.values():
        for source in kpi["sources"]:
            if source["event"] != event_type:
                continue
            if not all(
                str(field(payload, f["field"])) in f["one_of"] for f in source["filters"]
            ):
                continue
            measure = source["measure"]
            if measure == "count":
                total += 1
            elif isinstance(measure, dict) and "field" in measure:
                value = field(payload, measure["field"])
                if value is not None:
                    total += Decimal(str(value))
            else:
                return None
    return total


def verify(bundle, public_key):
    if bundle.get("format") != FORMAT:
        raise Failed(f"not a cell proof bundle: format is {bundle.get('format')!r}")
    size, root = check_head(bundle["head"], public_key)
    decoded = []
    for event in sorted(bundle["events"], key=lambda e: e["position"]):
        position = event["position"]
        prev = bytes.fromhex(event["prev_hash"])
        chain = bytes.fromhex(event["hash"])
        body = bytes.fromhex(event["body"])
        if sha256(prev, position.to_bytes(8, "big"), body) != chain:
            raise Failed(f"event at position {position}: its bytes do not hash to its chain hash")
        proof = [bytes.fromhex(p) for p in event["inclusion_proof"]]
        if root_from_path(position - 1, size, sha256(b"\x00", chain), proof) != root:
            raise Failed(
                f"event at position {position}: the inclusion proof does not lead to the "
                f"signed root of the tree of {size} events"
            )
        decoded.append(decode_body(body))
    cell = bundle["cell"]
    kpi = next(
        (k for k in bundle["plan"]["kpis"] if k["id"] == cell["kpi"] and k["series"] == cell["series"]),
        None,
    )
    if kpi is None:
        raise Failed(f"the plan has no KPI {cell['kpi']} ({cell['series']})")
    stated = None if bundle["value"] is None else Decimal(bundle["value"])
    summary = f"{len(decoded)} events included in the signed tree of {size} (root {root.hex()})"
    if kpi["aggregation"] == "sum":
        total = recompute_sum(kpi, decoded)
        if total is not None:
            if stated is None or total != stated:
                raise Failed(f"the events sum to {total}, but the bundle states {stated}")
            return f"OK: {summary}; figure {stated} recomputed"
    return f"OK: {summary}; figure {stated} not recomputed here (rule {kpi['aggregation']})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--public-key", required=True)
    args = parser.parse_args()
    try:
        with open(args.bundle, encoding="utf-8") as f:
            bundle = json.load(f)
        print(verify(bundle, read_key(args.public_key)))
    except Failed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    except (KeyError, ValueError, TypeError) as error:
        print(f"FAILED: the bundle is malformed: {error!r}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
