//! Attributable tree heads: every signed head names the user whose key signed it, that key is
//! certified by the directory, and verification refuses a head signed by a key no one was
//! given, by a revoked user after revocation, or outside the key's validity. A user with raw
//! disk access can still sign, but only in their own name.
//!
//! On real redb folders (the embedded default), and offline for extracts and proofs.

mod common;
use common::every_backend;

use common::{PASS, Practice, ctx};
use medvault::audit::{Checkpoint, SignedBy, TreeHead};
use medvault::backend::{Backend, Space};
use medvault::export::extract::{ExtractFilter, verify_extract};
use medvault::testing::crypto::SigningSecret;
use medvault::{Clock, Engine, KeyKind, Store, Timestamp};

fn user(name: &str) -> SignedBy {
    SignedBy::User { user: medvault::UserId([0; 16]), name: name.into() }
}

/// Names only: user ids are random.
fn names(by: &[medvault::audit::HeadSigners]) -> Vec<String> {
    by.iter().map(|h| h.signer.to_string()).collect()
}

fn same_signer(a: &SignedBy, b: &SignedBy) -> bool {
    match (a, b) {
        (SignedBy::User { name: x, .. }, SignedBy::User { name: y, .. }) => x == y,
        (SignedBy::StoreKey, SignedBy::StoreKey) => true,
        _ => false,
    }
}

/// The stored checkpoint at log size `size` (checkpoints stay; the latest head is re-signed
/// by every commit).
fn checkpoint_at(backend: &dyn Backend, size: u64) -> Checkpoint {
    let row = backend.get(Space::Checkpoints, &size.to_be_bytes()).unwrap().expect("a checkpoint at this size");
    medvault::testing::codec::decode(&row, medvault::Object::Checkpoint).unwrap()
}

fn resign(backend: &dyn Backend, head: TreeHead, key: &SigningSecret) {
    let size = head.size;
    let cp = Checkpoint::sign(head, key).unwrap();
    let mut b = medvault::backend::Batch::new();
    b.put(Space::Checkpoints, size.to_be_bytes().to_vec(), medvault::testing::codec::encode(&cp).unwrap());
    backend.apply(&b).unwrap();
}

/// A practice in a redb folder, with a checkpoint every 4 events.
fn on_disk(dir: &std::path::Path) -> Practice {
    let options = medvault::StoreOptions {
        engine: Engine::Redb,
        checkpoint_interval: 4,
        ..medvault::StoreOptions::insecure_fast_for_tests()
    };
    Practice::in_dir_with(dir, options)
}

fn verify(store: &Store) -> medvault::VerifyReport {
    store.unlock("dpo", PASS, ctx()).unwrap().verify_audit(None).unwrap()
}

#[test]
fn no_user_holds_a_shared_signing_key_and_every_head_names_its_signer() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(dir.path());
    let p = practice.patient(1);
    practice.session("ines").read_exams(p).unwrap();
    let mut keys = Vec::new();
    for (name, _) in common::USERS {
        let s = practice.session(name);
        assert!(
            !medvault::testing::held_key_kinds(&s).contains(&KeyKind::AuditSigning),
            "{name} holds the store audit key"
        );
        let key = medvault::testing::signing_key(&s).expect("every user signs with a key of their own");
        keys.push(key.verifying_key());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), common::USERS.len(), "one signing key per user");
    // The stored heads name who signed them, and nobody signed with the store key.
    let report = verify(&practice.store);
    assert!(report.is_ok(), "{:?}", report.problems);
    let signers = names(&report.signed_by);
    assert!(signers.contains(&"admin".to_string()) && signers.len() >= 3, "{signers:?}");
    assert!(!report.signed_by.iter().any(|h| h.signer == SignedBy::StoreKey), "{signers:?}");
    println!(
        "heads by signer: {:?}",
        report.signed_by.iter().map(|h| (h.signer.to_string(), h.heads)).collect::<Vec<_>>()
    );
}

#[test]
fn a_user_with_disk_access_can_re_sign_only_in_their_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let practice = on_disk(dir.path());
    let p = practice.patient(1);
    practice.session("dr_martin").read_reports(p).unwrap();
    let claire = practice.session("claire");
    let stolen = medvault::testing::signing_key(&claire).unwrap();
    drop(claire);
    let backend = practice.backend.clone();
    let genuine = checkpoint_at(backend.as_ref(), 8);

    // A key the directory never certified (here: a fresh one; on earlier releases the shared
    // store key, which every user held) is refused.
    resign(backend.as_ref(), genuine.head.clone(), &SigningSecret::random());
    let report = verify(&practice.store);
    assert!(report.problems.iter().any(|p| p.what.starts_with("checkpoint")), "{:?}", report.problems);

    // Claire's own key is accepted, and the head now names her.
    resign(backend.as_ref(), genuine.head.clone(), &stolen);
    let report = verify(&practice.store);
    assert!(report.is_ok(), "{:?}", report.problems);
    let claire_heads = report.signed_by.iter().find(|h| same_signer(&h.signer, &user("claire"))).expect("claire named");
    assert!(claire_heads.up_to >= genuine.head.size);

    // Backdated before her key existed: refused.
    let mut early = genuine.head.clone();
    early.time = Timestamp(0);
    resign(backend.as_ref(), early, &stolen);
    assert!(!verify(&practice.store).is_ok());

    // Revoked: a head she signs dated after her revocation is refused.
    resign(backend.as_ref(), genuine.head.clone(), &stolen);
    practice.session("admin").revoke_user("claire").unwrap();
    let mut late = genuine.head.clone();
    late.time = Timestamp(medvault::SystemClock.now().0 + 60_000);
    resign(backend.as_ref(), late, &stolen);
    let report = verify(&practice.store);
    assert!(report.problems.iter().any(|p| p.what.contains("outside the key's validity")), "{:?}", report.problems);
}

every_backend! {
fn a_revoked_users_open_session_can_no_longer_sign(kind) {
    let practice = Practice::of(kind);
    let claire = practice.session("claire");
    practice.session("admin").revoke_user("claire").unwrap();
    let err = claire.patient_ids().map(|_| ()).and_then(|_| claire.create_patient(common::identity(7)).map(|_| ()));
    assert!(matches!(err, Err(medvault::Error::Denied(medvault::Denied::SessionRetired))), "{err:?}");
    let report = verify(&practice.store);
    assert!(report.is_ok(), "{:?}", report.problems);
}
}

every_backend! {
fn an_extract_names_its_signer_and_a_forged_one_names_its_forger(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(1);
    practice.session("ines").read_exams(p).unwrap();
    let dpo = practice.session("dpo");
    let text = dpo.audit_extract(&ExtractFilter { patient: Some(p), ..Default::default() }).unwrap();
    let key = practice.store.verification_key();
    let report = verify_extract(&text, Some(&key)).unwrap();
    assert!(same_signer(report.signed_by.as_ref().unwrap(), &user("dpo")), "{:?}", report.signed_by);

    // Ines re-signs the whole file with her own key after removing an event line: it still
    // checks (she holds a certified key), but it names her, not the DPO.
    let ines_key = medvault::testing::signing_key(&practice.session("ines")).unwrap();
    let forged = forge_extract(&practice, &text, &ines_key);
    let report = verify_extract(&forged, Some(&key)).unwrap();
    assert!(same_signer(report.signed_by.as_ref().unwrap(), &user("ines")), "{:?}", report.signed_by);

    // With a key the directory never certified, the forgery is refused.
    let forged = forge_extract(&practice, &text, &SigningSecret::random());
    assert!(verify_extract(&forged, Some(&key)).is_err());
}
}

/// Rebuilds `text` without its last event, signed with `key`, with the certificate of `key` if
/// the store has one (else the genuine signer's certificate).
fn forge_extract(practice: &Practice, text: &str, key: &SigningSecret) -> String {
    use serde_json::{Value, json};
    use sha2::Digest;
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut cp_line = lines[lines.len() - 2].clone();
    let cp = Checkpoint::from_json(&cp_line["checkpoint"].to_string()).unwrap();
    let forged = Checkpoint::sign(cp.head.clone(), key).unwrap();
    cp_line["checkpoint"] = serde_json::from_str(&forged.to_json()).unwrap();
    if let Some(row) = practice.backend.get(Space::Signers, &key.verifying_key()).unwrap() {
        let record: medvault::testing::keyring::SignerRecord =
            medvault::testing::codec::decode(&row, medvault::Object::SignerCert).unwrap();
        let c = &record.cert.body;
        cp_line["signer"] = json!({
            "format": c.format, "store": c.store.to_string(), "user": c.user.to_string(), "name": c.name,
            "public": hex::encode(c.public), "from_ms": c.from.0, "until_ms": c.until.map(|t| t.0),
            "signature": hex::encode(&record.cert.signature),
        });
    }
    // One event line dropped, the count adjusted.
    let mut header = lines[0].clone();
    let kept = &lines[1..lines.len() - 3];
    header["count"] = json!(kept.len());
    let mut out = String::new();
    for l in std::iter::once(&header).chain(kept) {
        out.push_str(&l.to_string());
        out.push('\n');
    }
    out.push_str(&cp_line.to_string());
    out.push('\n');
    let digest = sha2::Sha256::digest(out.as_bytes());
    let sig = key.sign(&[b"medvault/extract/v1".as_slice(), &digest].concat());
    out.push_str(
        &json!({"type": "signature", "sha256": hex::encode(digest), "signature": hex::encode(sig)}).to_string(),
    );
    out.push('\n');
    out
}

#[test]
fn revoking_a_user_while_their_session_works_leaves_a_log_that_verifies() {
    // Operations of the revoked user staged before the revocation are signed within the key's
    // validity; those after are refused. Several rounds, since the interleaving varies.
    for round in 0..5 {
        // Every reading of this clock is one millisecond later than the one before, so that
        // a head dated by a later operation would fall after the revoked key's retirement.
        // On redb, where syncs take time and groups hold several operations.
        let options = medvault::StoreOptions {
            engine: Engine::Redb,
            checkpoint_interval: 1, // every head is kept, not only the latest
            clock: std::sync::Arc::new(Ticking(std::sync::atomic::AtomicI64::new(1_795_334_400_000))),
            ..medvault::StoreOptions::insecure_fast_for_tests()
        };
        let dir = tempfile::tempdir().unwrap();
        let practice = Practice::in_dir_with(dir.path(), options);
        let p = practice.patient(round);
        let claire = practice.session("claire");
        let admin = practice.session("admin");
        let (done, refused) = std::thread::scope(|s| {
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = 0u32;
                        loop {
                            match claire.read_identity(p) {
                                Ok(_) => done += 1,
                                Err(medvault::Error::Denied(medvault::Denied::SessionRetired)) => return (done, 1u32),
                                Err(e) => panic!("unexpected: {e}"),
                            }
                        }
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_millis(20));
            admin.revoke_user("claire").unwrap();
            workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        });
        assert!(done > 0 && refused == 3, "round {round}: {done} reads, {refused} refusals");
        let report = verify(&practice.store);
        assert!(report.is_ok(), "round {round}: {:?}", report.problems);
    }
}

#[derive(Debug)]
struct Ticking(std::sync::atomic::AtomicI64);

impl Clock for Ticking {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    }
}

every_backend! {
fn a_recovery_retires_the_users_signing_key_and_gives_a_new_one(kind) {
    let practice = Practice::of(kind);
    let before = practice.session("claire");
    let old = medvault::testing::signing_key(&before).unwrap().verifying_key();
    practice.store.recover(&practice.shares[..3], "claire", b"a new passphrase 2", ctx()).unwrap();
    // The session opened before the recovery signs nothing more.
    let err = before.create_patient(common::identity(3)).map(|_| ());
    assert!(matches!(err, Err(medvault::Error::Denied(medvault::Denied::SessionRetired))), "{err:?}");
    let after = practice.store.unlock("claire", b"a new passphrase 2", ctx()).unwrap();
    let new = medvault::testing::signing_key(&after).unwrap().verifying_key();
    assert_ne!(old, new);
    assert_ne!(new, practice.store.audit_public_key());
    after.create_patient(common::identity(4)).unwrap();
    let report = verify(&practice.store);
    assert!(report.is_ok(), "{:?}", report.problems);
}
}
