//! Every JSON or text input a user gives: identity, report and exam JSON, a policy file, a
//! recovery share. The first byte picks the decoder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, bytes)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    match which % 5 {
        0 => {
            if let Ok(i) = serde_json::from_str::<medvault::Identity>(text) {
                let _ = medvault::model::SectionContent::validate(&i);
            }
        }
        1 => {
            if let Ok(r) = serde_json::from_str::<medvault::Report>(text) {
                let _ = medvault::model::SectionContent::validate(&r);
            }
        }
        2 => {
            if let Ok(e) = serde_json::from_str::<medvault::Exam>(text) {
                let _ = medvault::model::SectionContent::validate(&e);
            }
        }
        3 => drop(medvault::Policy::from_json(text)),
        _ => drop(medvault::RecoveryShare::parse(text)),
    }
});
