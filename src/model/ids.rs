//! Random 128-bit identifiers, dates and timestamps.
//!
//! Ids are random (never derived from identity data) because they appear in storage keys and in
//! audit events. They print as 32 lowercase hex digits; in JSON they are those strings, in the
//! binary codec the 16 raw bytes.

use super::InvalidInput;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

type Result<T> = std::result::Result<T, InvalidInput>;
/// Fills a buffer from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // invariant: getrandom only fails when the OS has no entropy source, which medvault
    // cannot work without; aborting is the only safe answer.
    getrandom::fill(&mut out).expect("invariant: OS random source available");
    out
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(random_bytes())
            }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
            /// Parses 32 hex digits.
            pub fn parse(s: &str) -> Result<Self> {
                let mut out = [0u8; 16];
                hex::decode_to_slice(s.trim(), &mut out).map_err(|_| {
                    InvalidInput::Malformed { field: stringify!($name), expected: "32 hexadecimal digits" }
                })?;
                Ok(Self(out))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), hex::encode(self.0))
            }
        }
        impl std::str::FromStr for $name {
            type Err = InvalidInput;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&hex::encode(self.0))
                } else {
                    self.0.serialize(s)
                }
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                if d.is_human_readable() {
                    let s = String::deserialize(d)?;
                    Self::parse(&s).map_err(serde::de::Error::custom)
                } else {
                    Ok(Self(<[u8; 16]>::deserialize(d)?))
                }
            }
        }
    };
}

id_type!(
    /// A patient (random, never derived from identity data).
    PatientId
);
id_type!(
    /// One entry of a section (a report, an exam); all its revisions share it.
    EntryId
);
id_type!(
    /// An attachment of an entry (a scanned letter, a PDF, an image).
    AttachmentId
);
id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A store; bound into every ciphertext so that nothing moves between stores.
    StoreId
);
id_type!(
    /// One unlocked session, recorded in every audit event it causes.
    SessionId
);

impl EntryId {
    /// The single entry id of the identity section (identity has one entry with revisions).
    pub const IDENTITY: EntryId = EntryId([0u8; 16]);
}

/// A calendar date (no time zone), printed and parsed as `YYYY-MM-DD`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// Builds a date, checking that it exists.
    pub fn new(year: i32, month: u8, day: u8) -> Result<Self> {
        let m = time::Month::try_from(month)
            .map_err(|_| InvalidInput::Malformed { field: "date", expected: "a date that exists (month 1-12)" })?;
        time::Date::from_calendar_date(year, m, day)
            .map(Date)
            .map_err(|_| InvalidInput::Malformed { field: "date", expected: "a date that exists" })
    }
    /// Parses `YYYY-MM-DD` (four-digit year, two-digit month and day; nothing else). The error
    /// does not repeat the text: a date may be a patient's.
    pub fn parse(s: &str) -> Result<Self> {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
            time::macros::format_description!("[year repr:full sign:automatic]-[month]-[day]");
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(InvalidInput::Malformed { field: "date", expected: "written YYYY-MM-DD" });
        }
        time::Date::parse(s, FORMAT)
            .map(Date)
            .map_err(|_| InvalidInput::Malformed { field: "date", expected: "written YYYY-MM-DD and exist" })
    }
    /// Year, month (1-12), day.
    pub fn ymd(&self) -> (i32, u8, u8) {
        (self.0.year(), self.0.month() as u8, self.0.day())
    }
    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(&self) -> i64 {
        (self.0 - time::Date::from_calendar_date(1970, time::Month::January, 1).unwrap_or(self.0)).whole_days()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}
impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            let (y, m, d) = self.ymd();
            (y, m, d).serialize(s)
        }
    }
}
impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Date::parse(&s).map_err(serde::de::Error::custom)
        } else {
            let (y, m, day) = <(i32, u8, u8)>::deserialize(d)?;
            Date::new(y, m, day).map_err(serde::de::Error::custom)
        }
    }
}

/// A UTC instant, milliseconds since the Unix epoch. JSON: RFC 3339 text; binary: i64.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() { s.serialize_str(&self.to_string()) } else { self.0.serialize(s) }
    }
}
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            Timestamp::parse(&s).map_err(serde::de::Error::custom)
        } else {
            Ok(Timestamp(i64::deserialize(d)?))
        }
    }
}

impl Timestamp {
    /// The current time of the system clock.
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Timestamp((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }
    /// Parses RFC 3339 (`2026-11-22T08:00:00Z`) or a bare date (midnight UTC).
    pub fn parse(s: &str) -> Result<Self> {
        use time::format_description::well_known::Rfc3339;
        if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64));
        }
        let d = Date::parse(s)
            .map_err(|_| InvalidInput::Malformed { field: "time", expected: "RFC 3339 or YYYY-MM-DD" })?;
        Ok(Timestamp(d.days_since_epoch() * 86_400_000))
    }
    /// The calendar date of this instant (UTC).
    pub fn date(&self) -> Option<Date> {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).ok()?;
        Some(Date(t.date()))
    }
    /// This instant plus some milliseconds.
    pub fn plus_millis(&self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339, UTC, always with milliseconds: `2026-11-22T08:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        match time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .ok()
            .and_then(|t| t.format(&fmt).ok())
        {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}ms", self.0),
        }
    }
}
impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_hex() {
        let id = PatientId::random();
        assert_eq!(PatientId::parse(&id.to_string()).unwrap(), id);
        assert!(PatientId::parse("xyz").is_err());
        assert_ne!(PatientId::random(), PatientId::random());
    }

    #[test]
    fn dates_are_validated() {
        assert_eq!(Date::parse("1984-02-29").unwrap().to_string(), "1984-02-29");
        assert!(Date::parse("1985-02-29").is_err());
        assert!(Date::parse("85-02-01").is_err());
        assert!(Date::parse("1985-13-01").is_err());
        // Signs, short fields, spaces and trailing text are refused (the first release's
        // hand-written parser accepted "+123-+1-+1").
        for bad in
            ["+123-+1-+1", "+1985-02-01", "-001-01-01", "1985-2-01", "1985-02-1", " 1985-02-01", "1985-02-01x", ""]
        {
            assert!(Date::parse(bad).is_err(), "{bad:?} parsed");
        }
        // The error names the field, never the value.
        let e = Date::parse("1961-02-30").unwrap_err().to_string();
        assert!(!e.contains("1961"), "{e}");
    }

    #[test]
    fn timestamps_print_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1).to_string(), "1970-01-01T00:00:00.001Z");
        assert_eq!(Timestamp::parse("1970-01-02").unwrap(), Timestamp(86_400_000));
        assert_eq!(Timestamp::parse("1970-01-01T00:00:01Z").unwrap(), Timestamp(1000));
    }
}
