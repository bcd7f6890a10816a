//! The identity section: INS traits and administrative data.

use super::InvalidInput;
use super::{Date, Section, SectionContent, check_text, redacted_debug};

type Result<T> = std::result::Result<T, InvalidInput>;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Administrative sex as the INS records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Sex {
    /// Female.
    F,
    /// Male.
    M,
    /// Unknown / undetermined.
    U,
}

/// Identity status of the INS referential (only `QUAL` may be shared with its matricule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IdentityStatus {
    /// Provisional identity.
    PROV,
    /// Retrieved from the INSi teleservice, not checked against an ID document.
    RECUP,
    /// Validated against an identity document.
    VALI,
    /// Qualified: retrieved and validated.
    QUAL,
}

/// The identity section of a patient.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Birth name (nom de naissance).
    pub birth_name: String,
    /// All first names in civil-status order; the first is the INS "first first-name".
    pub first_names: Vec<String>,
    /// Birth date.
    #[zeroize(skip)]
    pub birth_date: Date,
    /// Sex.
    #[zeroize(skip)]
    pub sex: Sex,
    /// INSEE code of the birth place (5 characters; 99xxx for abroad).
    pub birth_place_insee: String,
    /// Used name (nom utilisé), if different.
    #[serde(default)]
    pub used_name: Option<String>,
    /// INS matricule: NIR or NIA, 15 characters including the key.
    #[serde(default)]
    pub ins_matricule: Option<String>,
    /// OID of the matricule's authority (NIR: 1.2.250.1.213.1.4.8, NIA: 1.2.250.1.213.1.4.9).
    #[serde(default)]
    pub ins_oid: Option<String>,
    /// Identity status.
    #[zeroize(skip)]
    pub identity_status: IdentityStatus,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Insurance (organism and contract).
    #[serde(default)]
    pub insurance: Option<String>,
    /// Emergency contact (person to notify).
    #[serde(default)]
    pub emergency_contact: Option<String>,
    /// Date of death.
    #[serde(default)]
    #[zeroize(skip)]
    pub date_of_death: Option<Date>,
}
redacted_debug!(Identity);

impl SectionContent for Identity {
    const SECTION: Section = Section::Identity;
    fn as_identity(&self) -> Option<&Identity> {
        Some(self)
    }
    fn validate(&self) -> Result<()> {
        check_text("birth_name", &self.birth_name, 200)?;
        if self.first_names.is_empty() {
            return Err(InvalidInput::Rule("field `first_names` must list at least one first name"));
        }
        if self.first_names.len() > 10 {
            return Err(InvalidInput::Rule("field `first_names` lists at most 10 first names"));
        }
        super::check_optional(&[
            ("used_name", &self.used_name, 200),
            ("address", &self.address, 500),
            ("phone", &self.phone, 40),
            ("email", &self.email, 254),
            ("insurance", &self.insurance, 200),
            ("emergency_contact", &self.emergency_contact, 500),
        ])?;
        for n in &self.first_names {
            check_text("first_names", n, 200)?;
        }
        let insee = &self.birth_place_insee;
        if insee.len() != 5 || !insee.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InvalidInput::Rule("field `birth_place_insee` must be a 5-character INSEE code"));
        }
        if let Some(m) = &self.ins_matricule {
            if !matches!(self.identity_status, IdentityStatus::RECUP | IdentityStatus::QUAL) {
                return Err(InvalidInput::Rule(
                    "field `ins_matricule` may only be set on a RECUP or QUAL identity (retrieved from the INSi teleservice)",
                ));
            }
            validate_ins_matricule(m)?;
            match self.ins_oid.as_deref() {
                Some(NIR_OID) => check_nir_matches(m, self.sex, self.birth_date)?,
                Some(NIA_OID) => {}
                _ => {
                    return Err(InvalidInput::Rule(
                        "field `ins_oid` must be 1.2.250.1.213.1.4.8 (NIR) or 1.2.250.1.213.1.4.9 (NIA) when `ins_matricule` is set",
                    ));
                }
            }
        } else if self.identity_status == IdentityStatus::QUAL {
            return Err(InvalidInput::Rule("a QUAL identity must carry `ins_matricule`"));
        }
        if let Some(d) = self.date_of_death
            && d < self.birth_date
        {
            return Err(InvalidInput::Rule("field `date_of_death` is before `birth_date`"));
        }
        Ok(())
    }
}

/// OID of the INS when its matricule is a NIR.
const NIR_OID: &str = "1.2.250.1.213.1.4.8";
/// OID of the INS when its matricule is a NIA.
const NIA_OID: &str = "1.2.250.1.213.1.4.9";

/// Checks that a NIR agrees with the identity it is attached to: its first digit with the sex
/// (1 or 3 male, 2 or 4 female; any for an undetermined sex), its year digits with the birth
/// year, its month digits with the birth month (20-42 and 50-99 stand for an unknown month).
/// The error names the field, never the value.
fn check_nir_matches(m: &str, sex: Sex, birth: Date) -> Result<()> {
    let digit = |i: usize| m.as_bytes().get(i).map(|b| b.wrapping_sub(b'0'));
    let two = |i: usize| Some(u32::from(digit(i)?) * 10 + u32::from(digit(i + 1)?));
    let nir_sex = match digit(0) {
        Some(1 | 3) => Some(Sex::M),
        Some(2 | 4) => Some(Sex::F),
        _ => None,
    };
    match (nir_sex, sex) {
        (None, _) => return Err(InvalidInput::Rule("field `ins_matricule` must start with a sex digit (1-4)")),
        (Some(n), s) if s != Sex::U && n != s => {
            return Err(InvalidInput::Rule("field `sex` does not agree with the sex digit of `ins_matricule`"));
        }
        _ => {}
    }
    let (year, month, _) = birth.ymd();
    if two(1) != Some(year.rem_euclid(100) as u32) {
        return Err(InvalidInput::Rule("field `birth_date`: its year does not agree with `ins_matricule`"));
    }
    match two(3) {
        Some(1..=12) if two(3) != Some(u32::from(month)) => {
            Err(InvalidInput::Rule("field `birth_date`: its month does not agree with `ins_matricule`"))
        }
        Some(1..=12 | 20..=42 | 50..=99) => Ok(()),
        _ => Err(InvalidInput::Rule("field `ins_matricule` holds no valid month")),
    }
}

/// Checks an INS matricule: 13 characters (digits, or 2A/2B for Corsica at positions 6-7) and
/// a 2-digit key equal to 97 - (number mod 97). The error never repeats the value.
pub fn validate_ins_matricule(m: &str) -> Result<()> {
    let bad = || InvalidInput::Rule("field `ins_matricule` is not a valid NIR/NIA (15 characters with a correct key)");
    if m.len() != 15 || !m.is_ascii() {
        return Err(bad());
    }
    let (body, key) = m.split_at(13);
    let dept = &body[5..7];
    let digits: String = match dept {
        "2A" | "2a" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" | "2b" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_string(),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let k: u64 = key.parse().map_err(|_| bad())?;
    if !digits.chars().all(|c| c.is_ascii_digit()) || 97 - (n % 97) != k {
        return Err(bad());
    }
    Ok(())
}

/// Normalises a name for the blind index: upper case, accents removed, only A-Z kept, so that
/// "Lefèvre" and "LEFEVRE" find the same patient.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let base = match c {
            'à' | 'â' | 'ä' | 'á' | 'À' | 'Â' | 'Ä' | 'Á' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' | 'í' | 'Î' | 'Ï' | 'Í' => 'I',
            'ô' | 'ö' | 'ó' | 'Ô' | 'Ö' | 'Ó' => 'O',
            'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' | 'Ú' => 'U',
            'ç' | 'Ç' => 'C',
            'ÿ' | 'Ÿ' => 'Y',
            'æ' | 'Æ' => {
                out.push_str("AE");
                continue;
            }
            'œ' | 'Œ' => {
                out.push_str("OE");
                continue;
            }
            c if c.is_ascii_alphabetic() => c.to_ascii_uppercase(),
            _ => continue,
        };
        out.push(base);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ins_key_is_checked() {
        // 2 84 05 75 112 345 key = 97 - (2840575112345 mod 97)
        let body = "2840575112345";
        let key = 97 - body.parse::<u64>().unwrap() % 97;
        validate_ins_matricule(&format!("{body}{key:02}")).unwrap();
        assert!(validate_ins_matricule(&format!("{body}{:02}", (key + 1) % 97)).is_err());
        assert!(validate_ins_matricule("12345").is_err());
        // Corsica: 2A counts as 19, 2B as 18 in the key computation.
        let key = 97 - "1840218112345".parse::<u64>().unwrap() % 97;
        validate_ins_matricule(&format!("184022B112345{key:02}")).unwrap();
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("Lefèvre-Ça d'Œuf"), "LEFEVRECADOEUF");
    }

    #[test]
    fn debug_is_redacted() {
        let id = Identity {
            birth_name: "SECRETNAME".into(),
            first_names: vec!["X".into()],
            birth_date: Date::parse("2000-01-01").unwrap(),
            sex: Sex::F,
            birth_place_insee: "75056".into(),
            used_name: None,
            ins_matricule: None,
            ins_oid: None,
            identity_status: IdentityStatus::PROV,
            address: None,
            phone: None,
            email: None,
            insurance: None,
            emergency_contact: None,
            date_of_death: None,
        };
        assert!(!format!("{id:?}").contains("SECRETNAME"));
    }
}
