//! A patient named by the first digits of their id: exactly one match, or a clear error (too
//! short, not hex, no match, several matches), on every backend.

mod common;

use common::{Practice, every_backend};
use medvault::backend::{Batch, Space};
use medvault::{Error, PatientId};

every_backend! {
    fn a_prefix_names_one_patient_or_fails_clearly(kind) {
        let practice = Practice::of(kind);
        let p = practice.patient(1);
        let s = practice.session("claire");
        let hex = p.to_string();
        for n in [4, 5, 8, 31, 32] {
            assert_eq!(s.patient_by_id_prefix(&hex[..n]).unwrap(), p, "{n} digits");
        }
        assert_eq!(s.patient_by_id_prefix(&hex[..8].to_uppercase()).unwrap(), p);
        assert!(matches!(s.patient_by_id_prefix(&hex[..3]), Err(Error::Invalid(_))));
        assert!(matches!(s.patient_by_id_prefix("zzzzzzzz"), Err(Error::Invalid(_))));
        // Two ids sharing their first 6 digits (planted headers: only keys are looked at).
        let mut twin = p.0;
        twin[3] ^= 0xff;
        twin[15] ^= 0x01;
        let mut batch = Batch::new();
        batch.put(Space::Patients, twin.to_vec(), vec![0]);
        practice.backend.apply(&batch).unwrap();
        let shared = &hex[..6];
        match s.patient_by_id_prefix(shared) {
            Err(Error::Invalid(e)) => assert!(e.to_string().contains("several"), "{e}"),
            other => panic!("an ambiguous prefix gave {other:?}"),
        }
        assert_eq!(s.patient_by_id_prefix(&hex[..8]).unwrap(), p, "8 digits tell them apart");
        let absent = PatientId([if p.0[0] == 0 { 1 } else { 0 }; 16]).to_string();
        assert!(matches!(s.patient_by_id_prefix(&absent[..8]), Err(Error::NotFound(_))));
    }
}
