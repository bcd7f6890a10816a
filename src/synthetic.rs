//! Synthetic patients for the demo, tests and benchmarks: generated French names, fake INS
//! matricules with a valid key but a birth-month field of 20-30 (a range the NIR uses only for
//! unknown months, never drawn from a real record here), addresses in real towns, `.invalid`
//! e-mail domains. Deterministic from a seed; never real data.

use crate::model::{Date, Exam, ExamKind, Identity, IdentityStatus, Interpretation, Report, ReportKind, Sex};

const FAMILY: &[&str] = &[
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEBVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
];
const FEMALE: &[&str] = &[
    "Marie", "Camille", "Léa", "Manon", "Chloé", "Inès", "Jeanne", "Louise", "Émilie", "Nathalie", "Sophie", "Hélène",
];
const MALE: &[&str] = &[
    "Jean",
    "Louis",
    "Gabriel",
    "Hugo",
    "Lucas",
    "Thomas",
    "Nicolas",
    "Julien",
    "Pierre",
    "Éric",
    "François",
    "Mathis",
];
const TOWNS: &[(&str, &str, &str)] = &[
    ("75056", "75011", "Paris"),
    ("69123", "69003", "Lyon"),
    ("13055", "13005", "Marseille"),
    ("31555", "31000", "Toulouse"),
    ("44109", "44000", "Nantes"),
    ("67482", "67000", "Strasbourg"),
    ("33063", "33000", "Bordeaux"),
    ("59350", "59000", "Lille"),
];
const STREETS: &[&str] = &[
    "rue de la République",
    "avenue Jean Jaurès",
    "rue Victor Hugo",
    "boulevard Pasteur",
    "place de la Mairie",
    "rue des Lilas",
];

/// A small deterministic generator (xorshift64*; not for anything secret).
pub struct Synth {
    state: u64,
}

impl Synth {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Synth { state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 }
    }
    /// Next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// A fake NIR with a valid key. Its month field is 20-30, a range reserved for people whose
    /// birth month is unknown and never produced from a real civil-status record here.
    pub fn ins_matricule(&mut self, sex: Sex, birth: Date, insee: &str) -> String {
        let (y, _, _) = birth.ymd();
        let s = if sex == Sex::F { 2 } else { 1 };
        let month = 20 + self.below(11);
        let order = 1 + self.below(998);
        let body = format!("{s}{:02}{month:02}{insee}{order:03}", y.rem_euclid(100));
        let n: u64 = body.parse().unwrap_or(0);
        format!("{body}{:02}", 97 - n % 97)
    }

    /// A synthetic identity. Every third one is QUAL (with matricule), others VALI or PROV.
    pub fn identity(&mut self) -> Identity {
        let sex = if self.below(2) == 0 { Sex::F } else { Sex::M };
        let first = if sex == Sex::F { FEMALE } else { MALE };
        let birth_name = self.pick(FAMILY).to_string();
        let firsts = vec![self.pick(first).to_string(), self.pick(first).to_string()];
        let year = 1935 + self.below(85) as i32;
        let birth_date =
            Date::new(year, 1 + self.below(12) as u8, 1 + self.below(28) as u8).unwrap_or_else(|_| unreachable_date());
        let (insee, cp, town) = TOWNS[self.below(TOWNS.len() as u64) as usize];
        let status = match self.below(3) {
            0 => IdentityStatus::QUAL,
            1 => IdentityStatus::VALI,
            _ => IdentityStatus::PROV,
        };
        // Only a RECUP or QUAL identity carries a matricule (retrieved from the INSi teleservice).
        let ins = (status == IdentityStatus::QUAL).then(|| self.ins_matricule(sex, birth_date, insee));
        Identity {
            used_name: None,
            ins_oid: ins.as_ref().map(|_| "1.2.250.1.213.1.4.8".to_string()),
            ins_matricule: ins,
            identity_status: status,
            address: Some(format!("{} {}, {cp} {town}", 1 + self.below(120), self.pick(STREETS))),
            phone: Some(format!(
                "06 {:02} {:02} {:02} {:02}",
                self.below(100),
                self.below(100),
                self.below(100),
                self.below(100)
            )),
            email: Some(format!("{}.{}@example.invalid", firsts[0].to_lowercase(), birth_name.to_lowercase())),
            insurance: Some(format!("CPAM {town}")),
            emergency_contact: None,
            date_of_death: None,
            birth_name,
            first_names: firsts,
            birth_date,
            sex,
            birth_place_insee: insee.to_string(),
        }
    }

    /// A consultation report.
    pub fn report(&mut self, author: &str, date: Date) -> Report {
        let (title, body) = match self.below(3) {
            0 => (
                "Consultation de suivi",
                "Patient revu en consultation. Tension artérielle 13/8. Poursuite du traitement.",
            ),
            1 => ("Courrier au confrère", "Cher confrère, je vous adresse ce patient pour avis cardiologique."),
            _ => ("Compte rendu de consultation", "Examen clinique sans particularité. Bilan biologique prescrit."),
        };
        Report {
            kind: if title.starts_with("Courrier") { ReportKind::Letter } else { ReportKind::Consultation },
            author: author.to_string(),
            date,
            title: title.into(),
            body: body.into(),
        }
    }

    /// A lab result.
    pub fn lab_result(&mut self, performer: &str, date: Date) -> Exam {
        let (code, label, unit, range, lo, hi) = match self.below(3) {
            0 => ("718-7", "Hémoglobine", "g/dL", "12.0-16.0", 120, 160),
            1 => ("2345-7", "Glucose", "mmol/L", "3.9-5.8", 39, 58),
            _ => ("2160-0", "Créatinine", "umol/L", "45-90", 45, 90),
        };
        let v = lo as u64 - 10 + self.below((hi - lo + 20) as u64);
        let interp = if v < lo as u64 {
            Interpretation::L
        } else if v > hi as u64 {
            Interpretation::H
        } else {
            Interpretation::N
        };
        let value = if unit == "umol/L" { format!("{v}") } else { format!("{}.{}", v / 10, v % 10) };
        Exam {
            kind: ExamKind::Lab,
            code_system: Some("http://loinc.org".into()),
            code: Some(code.into()),
            label: label.into(),
            value: Some(value),
            unit: Some(unit.into()),
            reference_range: Some(range.into()),
            interpretation: Some(interp),
            text: None,
            date,
            performer: performer.into(),
        }
    }
}

fn unreachable_date() -> Date {
    // invariant: day 1-28 of month 1-12 always exists.
    Date::new(2000, 1, 1).expect("invariant: 2000-01-01 exists")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SectionContent;

    #[test]
    fn synthetic_identities_are_valid() {
        let mut s = Synth::new(7);
        for _ in 0..200 {
            let id = s.identity();
            id.validate().unwrap();
            s.report("Dr X", id.birth_date).validate().unwrap();
            s.lab_result("Labo", id.birth_date).validate().unwrap();
        }
    }
}
