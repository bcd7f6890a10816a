//! Golden fixtures: the bytes of format 1 must not drift, and data sealed by format 1 must keep
//! opening. Regenerate only for a new format version: `MEDVAULT_BLESS=1 cargo test --test format_golden`.

use medvault::KdfParams;
use medvault::audit::{Action, Agent, AuditEvent, Checkpoint, Entity, Outcome, Purpose, TreeHead};
use medvault::model::{EntryId, PatientId, SessionId, StoreId, UserId};
use medvault::testing::crypto::{Binding, Key32, SigningSecret, aead};
use medvault::{Section, Timestamp};
use std::path::PathBuf;

fn golden(name: &str, bytes: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden").join(format!("{name}.hex"));
    let hex = hex::encode(bytes);
    if std::env::var_os("MEDVAULT_BLESS").is_some() {
        std::fs::write(&path, format!("{hex}\n")).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing fixture {}", path.display()));
    assert_eq!(hex, want.trim(), "{name}: encoding drifted from format 1");
}

fn event() -> AuditEvent {
    AuditEvent {
        format: 1,
        seq: 42,
        recorded_at: Timestamp(1_795_334_400_000),
        action: Action::Read,
        outcome: Outcome::Denied,
        agent: Agent {
            user: Some(UserId([1; 16])),
            name: "claire".into(),
            roles: vec!["secretary".into()],
            session: Some(SessionId([2; 16])),
            workstation: "accueil-1".into(),
        },
        purpose: Purpose::Treatment,
        entity: Entity { patient: Some(PatientId([3; 16])), section: Some(Section::Exams), ..Entity::default() },
        detail: Some("no role of this user may read the exams section".into()),
        writes: Vec::new(),
    }
}

#[test]
fn audit_event_encoding_is_stable() {
    let bytes = event().encode().unwrap();
    golden("audit_event", &bytes);
    assert_eq!(AuditEvent::decode(&bytes).unwrap(), event());
    golden("audit_event_leaf", &medvault::testing::merkle::leaf_hash(&bytes));
}

/// Format 2: the same event with the records its operation wrote.
fn event_v2() -> AuditEvent {
    use medvault::audit::{RecordState, RecordWrite};
    use medvault::testing::audit::record_digest;
    AuditEvent {
        format: 2,
        writes: vec![
            RecordWrite { space: 0x07, key: vec![3; 37], state: RecordState::Digest(record_digest(b"ciphertext")) },
            RecordWrite { space: 0x11, key: vec![3; 33], state: RecordState::Deleted },
            RecordWrite { space: 0x0F, key: 256u64.to_be_bytes().to_vec(), state: RecordState::Present },
        ],
        ..event()
    }
}

#[test]
fn audit_event_v2_encoding_is_stable_and_v1_still_decodes() {
    let bytes = event_v2().encode().unwrap();
    golden("audit_event_v2", &bytes);
    assert_eq!(AuditEvent::decode(&bytes).unwrap(), event_v2());
    // A format 1 event with writes cannot be encoded (format 1 has no such field).
    assert!(AuditEvent { format: 1, ..event_v2() }.encode().is_err());
    // The two layouts are told apart by their first two bytes only: a v2 body under a v1
    // format number does not decode.
    let mut relabelled = bytes.clone();
    relabelled[0] = 1;
    assert!(AuditEvent::decode(&relabelled).is_err());
}

/// Format 3: the event of format 2, its fields after the format in the compact encoding.
fn event_v3() -> AuditEvent {
    AuditEvent { format: 3, ..event_v2() }
}

#[test]
fn audit_event_v3_encoding_is_stable_and_compact() {
    let bytes = event_v3().encode().unwrap();
    golden("audit_event_v3", &bytes);
    assert_eq!(AuditEvent::decode(&bytes).unwrap(), event_v3());
    // The layout, field by field (docs/format.md §2 and §4).
    let mut want = String::from("0300"); // format u16 LE
    want += "2a"; // seq 42, one byte
    want += &format!("fd{}", hex::encode(1_795_334_400_000i64.wrapping_shl(1).to_le_bytes())); // zigzag i64
    want += "02"; // action Read (index 2)
    want += "01"; // outcome Denied
    want += &format!("01{}", "01".repeat(16)); // agent.user
    want += &format!("06{}", hex::encode("claire"));
    want += &format!("0109{}", hex::encode("secretary")); // roles: one
    want += &format!("01{}", "02".repeat(16)); // agent.session
    want += &format!("09{}", hex::encode("accueil-1"));
    want += "00"; // purpose Treatment
    want += &format!("01{}", "03".repeat(16)); // entity.patient
    want += "0102"; // entity.section Exams (index 2)
    want += "00000000"; // entry, revision, query, target_user: none
    let detail = "no role of this user may read the exams section";
    want += &format!("01{:02x}{}", detail.len(), hex::encode(detail));
    want += "03"; // three writes: space, key (length, bytes), state (variant; a digest is length-prefixed)
    want +=
        &format!("0725{}0120{}", "03".repeat(37), hex::encode(medvault::testing::audit::record_digest(b"ciphertext")));
    want += &format!("1121{}00", "03".repeat(33));
    want += &format!("0f08{}02", hex::encode(256u64.to_be_bytes()));
    assert_eq!(hex::encode(&bytes), want);
    assert!(bytes.len() * 100 < event_v2().encode().unwrap().len() * 75, "format 3 is at least a quarter smaller");
    // Told apart from format 2 by the first two bytes only.
    let mut relabelled = bytes.clone();
    relabelled[0] = 2;
    assert!(AuditEvent::decode(&relabelled).is_err());
    // One byte string per meaning: seq 42 written in a longer form does not decode.
    let mut longer = bytes[..2].to_vec();
    longer.extend([0xfb, 42, 0]);
    longer.extend(&bytes[3..]);
    assert!(AuditEvent::decode(&longer).is_err());
    // Truncated anywhere, or with a byte more, it does not decode.
    for cut in 0..bytes.len() {
        assert!(AuditEvent::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(AuditEvent::decode(&extra).is_err());
}

#[test]
fn checkpoint_encoding_and_signature_are_stable() {
    // Ed25519 signatures are deterministic: a fixed key gives fixed bytes.
    let key = SigningSecret::from_key(&Key32::from_bytes([7; 32]));
    let head = TreeHead { store: StoreId([9; 16]), size: 1000, root: [0xAB; 32], time: Timestamp(1_795_334_400_000) };
    let cp = Checkpoint::sign(head, &key).unwrap();
    golden("checkpoint", &medvault::testing::codec::encode(&cp).unwrap());
    let trusted = medvault::audit::TrustedSigners::offline(StoreId([9; 16]), &key.verifying_key(), None).unwrap();
    assert_eq!(cp.verify(&trusted, StoreId([9; 16])).unwrap(), medvault::audit::SignedBy::StoreKey);
}

#[test]
fn associated_data_is_stable() {
    let b = Binding::EntryPayload {
        store: StoreId([1; 16]),
        patient: PatientId([2; 16]),
        section: Section::Reports,
        entry: EntryId([3; 16]),
        revision: 2,
    };
    golden("aad_entry_payload", &b.to_aad());
}

#[test]
fn passphrase_derivation_is_stable() {
    let k = KdfParams::INSECURE_FAST.derive(b"correct horse battery staple", &[5; 16]).unwrap();
    let probe = aead::seal(&k, &Binding::RecoveryCheck { store: StoreId([0; 16]) }, b"probe");
    // The derived key opens a value sealed by format 1.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/sealed_probe.hex");
    if std::env::var_os("MEDVAULT_BLESS").is_some() {
        std::fs::write(&path, format!("{}\n", hex::encode(&probe))).unwrap();
    }
    let sealed = hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    let opened = aead::open(&k, &Binding::RecoveryCheck { store: StoreId([0; 16]) }, &sealed).unwrap();
    assert_eq!(&opened[..], b"probe");
}

#[test]
fn signer_certificate_encoding_and_signature_are_stable() {
    use medvault::audit::SignerCert;
    use medvault::testing::keyring::Signed;
    let directory = SigningSecret::from_key(&Key32::from_bytes([5; 32]));
    let cert = SignerCert {
        format: 1,
        store: StoreId([9; 16]),
        user: UserId([1; 16]),
        name: "claire".into(),
        public: [0xCD; 32],
        from: Timestamp(1_795_334_400_000),
        until: Some(Timestamp(1_795_420_800_000)),
    };
    let signed = Signed::sign("signer", cert, &directory).unwrap();
    golden("signer_cert", &medvault::testing::codec::encode(&signed).unwrap());
    let b = Binding::UserSigner { store: StoreId([1; 16]), user: UserId([2; 16]), public: [3; 32] };
    golden("aad_user_signer", &b.to_aad());
}

#[test]
fn attachment_bindings_are_stable() {
    use medvault::testing::crypto::AttachmentPlace;
    let place = AttachmentPlace {
        store: StoreId([1; 16]),
        patient: medvault::PatientId([2; 16]),
        section: medvault::Section::Exams,
        entry: medvault::EntryId([3; 16]),
        attachment: medvault::AttachmentId([4; 16]),
    };
    golden("aad_attachment_chunk", &Binding::AttachmentChunk { place, index: 5, last: true }.to_aad());
    golden("aad_attachment_key", &Binding::AttachmentKey { place, generation: 6 }.to_aad());
}
