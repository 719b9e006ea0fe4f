//! Signed tree heads: a head signs and verifies, and a changed head or another key fails
//! with a message that says which.

use kpi_proof::{
    fingerprint, parse_public_key, parse_secret_key, public_key_hex, sign, verify_head, HeadError,
    TreeHead,
};

const SEED_A: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const SEED_B: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

fn head() -> TreeHead {
    TreeHead {
        tree_size: 941_000,
        root_hash: [7; 32],
        timestamp_ms: 1_764_892_800_000,
    }
}

#[test]
fn a_signed_head_verifies_with_its_key() {
    let key = parse_secret_key(&format!("# a comment\n{SEED_A}\n")).unwrap();
    // RFC 8032 test 1: this seed's public key.
    assert_eq!(
        public_key_hex(&key.verifying_key()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let signed = sign(&key, head());
    assert_eq!(signed.key_fingerprint, fingerprint(&key.verifying_key()));
    let public = parse_public_key(&public_key_hex(&key.verifying_key())).unwrap();
    assert_eq!(verify_head(&signed, &public).unwrap(), head());
}

#[test]
fn a_changed_head_or_another_key_fails() {
    let key = parse_secret_key(SEED_A).unwrap();
    let other = parse_secret_key(SEED_B).unwrap();
    let signed = sign(&key, head());

    let mut bigger = signed.clone();
    bigger.tree_size += 1;
    assert!(matches!(
        verify_head(&bigger, &key.verifying_key()),
        Err(HeadError::BadSignature { .. })
    ));
    let mut rerooted = signed.clone();
    rerooted.root_hash = hex::encode([8u8; 32]);
    assert!(matches!(
        verify_head(&rerooted, &key.verifying_key()),
        Err(HeadError::BadSignature { .. })
    ));
    let error = verify_head(&signed, &other.verifying_key()).unwrap_err();
    assert!(matches!(error, HeadError::WrongKey { .. }));
    assert!(error.to_string().contains("not by the given public key"));
    // A forged fingerprint does not help: the signature is still the other key's.
    let mut forged = signed.clone();
    forged.key_fingerprint = fingerprint(&other.verifying_key());
    assert!(matches!(
        verify_head(&forged, &other.verifying_key()),
        Err(HeadError::BadSignature { .. })
    ));
}

#[test]
fn key_files_that_are_not_keys_are_refused() {
    assert!(parse_secret_key("not a key").is_err());
    let error = parse_public_key("abcd").unwrap_err();
    assert!(error.to_string().contains("64 hex digits"), "{error}");
}
