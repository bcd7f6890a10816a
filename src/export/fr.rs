//! French words for the documents people read (the patient copy, the DPO report) and legal time
//! in metropolitan France (Europe/Paris, daylight saving included, from the IANA database built
//! into the program so that a copy reads the same on every machine).
//!
//! Every code a document shows goes through one of these functions: a code without a French
//! word is shown with a word saying what kind of code it is, never bare.

use crate::audit::{Action, Outcome, Purpose};
use crate::model::{ExamKind, IdentityStatus, Interpretation, ReportKind, Section, Sex, Timestamp};
use jiff::Timestamp as Instant;
use jiff::tz::TimeZone;

/// Legal time of metropolitan France.
fn paris() -> TimeZone {
    jiff::tz::get!("Europe/Paris")
}

/// The local date and time in Paris, `None` for an instant outside the calendar's range.
pub fn local(t: Timestamp) -> Option<jiff::ZonedDateTime> {
    Instant::from_millisecond(t.0).ok().map(|i| i.to_zoned_datetime(paris()))
}

/// `05/12/2026 à 23:41` (Paris time; the page says so once).
pub fn date_time(t: Timestamp) -> String {
    match local(t) {
        Some(z) => z.strftime("%d/%m/%Y à %H:%M").to_string(),
        None => t.to_string(),
    }
}

/// `05/12/2026` (the Paris calendar day of an instant).
pub fn day(t: Timestamp) -> String {
    match local(t) {
        Some(z) => z.strftime("%d/%m/%Y").to_string(),
        None => t.to_string(),
    }
}

/// `2026-12-05`: the Paris calendar day, sortable (charts and groupings).
pub fn iso_day(t: Timestamp) -> String {
    match local(t) {
        Some(z) => z.date().to_string(),
        None => t.to_string(),
    }
}

/// A calendar date written the French way: `12/03/1961`.
pub fn date(d: crate::model::Date) -> String {
    let s = d.to_string();
    match (s.get(0..4), s.get(5..7), s.get(8..10)) {
        (Some(y), Some(m), Some(dd)) => format!("{dd}/{m}/{y}"),
        _ => s,
    }
}

/// First hour of the day and first hour of the night, local time: night is 22:00-06:00.
pub const NIGHT: (i8, i8) = (6, 22);

/// Whether an instant falls at night (22:00-06:00) in Paris, daylight saving included.
pub fn at_night(t: Timestamp) -> bool {
    local(t).is_some_and(|z| !(NIGHT.0..NIGHT.1).contains(&z.hour()))
}

/// What was done, as a patient reads it.
pub fn action(a: Action) -> &'static str {
    match a {
        Action::StoreCreate => "création du coffre",
        Action::Unlock => "ouverture de session",
        Action::Read => "consultation",
        Action::PatientCreate => "création du dossier",
        Action::Write => "saisie ou correction",
        Action::Search => "recherche à l'accueil",
        Action::Export => "copie ou export",
        Action::UserAdd => "création de compte",
        Action::UserRevoke => "révocation de compte",
        Action::RoleChange => "changement de rôle",
        Action::PassphraseChange => "changement de phrase secrète",
        Action::KeyDelivery => "remise de clés",
        Action::KeyCreate => "création de clé",
        Action::Recover => "récupération d'accès",
        Action::AuditQuery => "consultation du journal",
        Action::AuditVerify => "vérification du journal",
        Action::CheckpointExport => "ancrage du journal",
        Action::AuditPrune => "purge du journal",
        Action::CareTeamAdd => "ajout à l'équipe de soins",
        Action::CareTeamRemove => "retrait de l'équipe de soins",
        Action::Opposition => "opposition enregistrée",
        Action::OppositionWithdraw => "opposition levée",
        Action::BreakGlass => "accès en urgence (bris de glace)",
        Action::BreakGlassReview => "revue d'un accès en urgence",
        Action::Lockout => "verrouillage de compte",
        Action::LockoutLift => "déverrouillage de compte",
        Action::KeyRewrap => "renouvellement de clés",
        Action::KeyPolicy => "politique de clés",
        Action::LegalHold => "gel juridique",
        Action::Purge => "destruction du dossier",
        Action::Request => "demande du patient",
        Action::RecordBaseline => "état initial du journal",
        Action::Backup => "sauvegarde",
        Action::Attach => "pièce jointe",
        Action::RestoreForced => "restauration forcée",
        Action::ProfileSet => "fiche d'un professionnel",
    }
}

/// How it ended.
pub fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "effectué",
        Outcome::Denied => "REFUSÉ",
        Outcome::Error => "ÉCHEC",
    }
}

/// Why.
pub fn purpose(p: Purpose) -> &'static str {
    match p {
        Purpose::Treatment => "soins",
        Purpose::Emergency => "urgence",
        Purpose::Billing => "facturation",
        Purpose::PatientRequest => "demande du patient",
        Purpose::Legal => "obligation légale",
        Purpose::Operations => "gestion du logiciel",
    }
}

/// Which part of the file.
pub fn section(s: Section) -> &'static str {
    match s {
        Section::Identity => "identité",
        Section::Reports => "comptes rendus",
        Section::Exams => "examens",
    }
}

/// The profession a role stands for (roles of the default policy; another role is shown as
/// « rôle <name> »).
pub fn role(r: &str) -> String {
    match r {
        "physician" => "médecin".into(),
        "secretary" => "secrétaire médicale".into(),
        "nurse" => "infirmier·ère".into(),
        "biologist" => "biologiste".into(),
        "auditor" => "délégué·e à la protection des données".into(),
        "admin" => "administrateur·rice du logiciel".into(),
        other => format!("rôle « {other} »"),
    }
}

/// Roles as professions, joined.
pub fn roles(rs: &[String]) -> String {
    rs.iter().map(|r| role(r)).collect::<Vec<_>>().join(", ")
}

/// A report's kind.
pub fn report_kind(k: ReportKind) -> &'static str {
    match k {
        ReportKind::Consultation => "compte rendu de consultation",
        ReportKind::Operative => "compte rendu opératoire",
        ReportKind::HospitalStay => "compte rendu d'hospitalisation",
        ReportKind::Letter => "courrier",
    }
}

/// An exam's kind.
pub fn exam_kind(k: ExamKind) -> &'static str {
    match k {
        ExamKind::Lab => "analyse de biologie",
        ExamKind::Imaging => "imagerie",
        ExamKind::Other => "autre examen",
    }
}

/// A lab result's interpretation (HL7 v3 ObservationInterpretation), in words.
pub fn interpretation(i: Interpretation) -> &'static str {
    match i {
        Interpretation::N => "normal",
        Interpretation::L => "bas",
        Interpretation::H => "élevé",
        Interpretation::LL => "très bas (valeur critique)",
        Interpretation::HH => "très élevé (valeur critique)",
        Interpretation::A => "anormal",
    }
}

/// Sex as the civil status records it.
pub fn sex(s: Sex) -> &'static str {
    match s {
        Sex::F => "féminin",
        Sex::M => "masculin",
        Sex::U => "indéterminé",
    }
}

/// The identity's status under the national identity-vigilance rules (RNIV).
pub fn identity_status(s: IdentityStatus) -> &'static str {
    match s {
        IdentityStatus::PROV => "provisoire",
        IdentityStatus::RECUP => "récupérée (INS non vérifiée)",
        IdentityStatus::VALI => "validée (pièce d'identité vérifiée)",
        IdentityStatus::QUAL => "qualifiée (INS vérifiée)",
    }
}

/// A birth place's INSEE code, in words (99xxx is a country abroad).
pub fn birth_place(code: &str) -> String {
    if code.starts_with("99") {
        format!("à l'étranger (code pays INSEE {code})")
    } else {
        format!("commune de code INSEE {code}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn paris_time_follows_daylight_saving() {
        // Winter: UTC+1. Summer: UTC+2. The switch on 29 March 2026 at 01:00 UTC.
        assert_eq!(date_time(at("2026-12-05T22:41:00Z")), "05/12/2026 à 23:41");
        assert_eq!(date_time(at("2026-07-14T22:41:00Z")), "15/07/2026 à 00:41");
        assert_eq!(date_time(at("2026-03-29T00:59:00Z")), "29/03/2026 à 01:59");
        assert_eq!(date_time(at("2026-03-29T01:00:00Z")), "29/03/2026 à 03:00");
        assert_eq!(iso_day(at("2026-07-14T22:41:00Z")), "2026-07-15");
    }

    #[test]
    fn night_is_local_night_in_both_seasons() {
        // 21:30 UTC is 22:30 in winter (night) and 23:30 in summer (night).
        assert!(at_night(at("2026-01-10T21:30:00Z")));
        assert!(at_night(at("2026-07-10T21:30:00Z")));
        // 20:30 UTC is 21:30 in winter (day) but 22:30 in summer (night): a UTC rule gets one wrong.
        assert!(!at_night(at("2026-01-10T20:30:00Z")));
        assert!(at_night(at("2026-07-10T20:30:00Z")));
        // 04:30 UTC is 05:30 in winter (night) and 06:30 in summer (day).
        assert!(at_night(at("2026-01-10T04:30:00Z")));
        assert!(!at_night(at("2026-07-10T04:30:00Z")));
    }

    #[test]
    fn every_code_has_words() {
        for a in Action::ALL {
            assert!(!action(*a).is_empty() && action(*a) != a.name(), "{a:?}");
        }
        assert_eq!(role("physician"), "médecin");
        assert_eq!(role("podologue"), "rôle « podologue »");
        assert_eq!(interpretation(Interpretation::LL), "très bas (valeur critique)");
        assert_eq!(date(crate::model::Date::parse("1961-03-12").unwrap()), "12/03/1961");
    }
}
