//! Signed tree heads: a tree size, its root hash and a time, signed with the operator's
//! Ed25519 key; and the key files' text form.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tree::NodeHash;

/// What a signature covers starts with this, so a head signature is never valid for
/// anything else: `HEAD_CONTEXT ‖ tree_size (u64 BE) ‖ root_hash (32) ‖ timestamp_ms (u64 BE)`.
pub const HEAD_CONTEXT: &[u8] = b"kpi-ledger signed tree head v1\0";

/// A tree head before it is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// Entries (events) in the tree: the log's positions 1..=tree_size.
    pub tree_size: u64,
    /// MTH of those entries.
    pub root_hash: NodeHash,
    /// When it was signed, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: u64,
}

impl TreeHead {
    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(HEAD_CONTEXT.len() + 48);
        message.extend_from_slice(HEAD_CONTEXT);
        message.extend_from_slice(&self.tree_size.to_be_bytes());
        message.extend_from_slice(&self.root_hash);
        message.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        message
    }
}

/// A signed tree head as it is published (JSON): hashes, key fingerprint and signature
/// in lower-case hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    pub tree_size: u64,
    pub root_hash: String,
    pub timestamp_ms: u64,
    /// SHA-256 of the raw 32-byte public key: which key signed.
    pub key_fingerprint: String,
    /// The Ed25519 signature of [`TreeHead::message`] (64 bytes).
    pub signature: String,
}

/// Why a signed head is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("field `{field}` is not valid: {reason}")]
    Malformed { field: &'static str, reason: String },
    #[error("the head was signed by the key with fingerprint {signed_by}, not by the given public key (fingerprint {given})")]
    WrongKey { signed_by: String, given: String },
    #[error("the signature does not match the head (tree size {tree_size}, root {root_hash}): the head was changed or signed by another key")]
    BadSignature { tree_size: u64, root_hash: String },
}

/// Why a key file's text is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 {what} key: {reason}")]
pub struct KeyError {
    pub what: &'static str,
    pub reason: String,
}

impl SignedTreeHead {
    /// The head it signs, its hex decoded.
    pub fn head(&self) -> Result<TreeHead, HeadError> {
        let root_hash = crate::from_hex(&self.root_hash).ok_or_else(|| HeadError::Malformed {
            field: "root_hash",
            reason: "is not 64 hex digits".to_owned(),
        })?;
        Ok(TreeHead {
            tree_size: self.tree_size,
            root_hash,
            timestamp_ms: self.timestamp_ms,
        })
    }
}

/// SHA-256 of the raw public key, lower-case hex.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The public key as 64 hex digits (the text of a public key file).
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Signs `head` with `key`.
pub fn sign(key: &SigningKey, head: TreeHead) -> SignedTreeHead {
    let signature = key.sign(&head.message());
    SignedTreeHead {
        tree_size: head.tree_size,
        root_hash: hex::encode(head.root_hash),
        timestamp_ms: head.timestamp_ms,
        key_fingerprint: fingerprint(&key.verifying_key()),
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Checks that `signed` was signed by `key` and is unchanged; returns the head.
pub fn verify_head(signed: &SignedTreeHead, key: &VerifyingKey) -> Result<TreeHead, HeadError> {
    let head = signed.head()?;
    let given = fingerprint(key);
    if signed.key_fingerprint != given {
        return Err(HeadError::WrongKey {
            signed_by: signed.key_fingerprint.clone(),
            given,
        });
    }
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(&signed.signature, &mut bytes).map_err(|_| HeadError::Malformed {
        field: "signature",
        reason: "is not 128 hex digits".to_owned(),
    })?;
    key.verify_strict(&head.message(), &Signature::from_bytes(&bytes))
        .map_err(|_| HeadError::BadSignature {
            tree_size: head.tree_size,
            root_hash: signed.root_hash.clone(),
        })?;
    Ok(head)
}

/// The 32 bytes of a key file: 64 hex digits on a line; blank lines and lines starting
/// with `#` are ignored.
fn key_bytes(text: &str, what: &'static str) -> Result<[u8; 32], KeyError> {
    let digits: String = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(&digits, &mut bytes).map_err(|_| KeyError {
        what,
        reason: format!("expected 64 hex digits, found {} characters", digits.len()),
    })?;
    Ok(bytes)
}

/// A secret key file's text (its 32-byte seed in hex).
pub fn parse_secret_key(text: &str) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&key_bytes(text, "secret")?))
}

/// A public key file's text (the 32-byte key in hex).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_bytes(&key_bytes(text, "public")?).map_err(|e| KeyError {
        what: "public",
        reason: e.to_string(),
    })
}

pub use ed25519_dalek::{SigningKey as SecretKey, VerifyingKey as PublicKey};
