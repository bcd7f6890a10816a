//! Argon2id passphrase stretching.

use super::Key32;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Argon2id cost parameters, stored per user so that they can be raised over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 second recommended option: 64 MiB, 3 passes, 4 lanes. The default and the floor
    /// that production stores should keep.
    pub const RECOMMENDED: KdfParams = KdfParams { m_kib: 64 * 1024, t: 3, p: 4 };

    /// Cheap parameters for tests and fuzzing only: they make passphrases easy to brute-force.
    pub const INSECURE_FAST: KdfParams = KdfParams { m_kib: 64, t: 1, p: 1 };

    /// Whether these parameters are at least as strong as [`Self::RECOMMENDED`].
    pub fn meets_recommendation(&self) -> bool {
        self.m_kib >= Self::RECOMMENDED.m_kib && self.t >= Self::RECOMMENDED.t && self.p >= 1
    }

    fn argon2(&self) -> Result<argon2::Argon2<'static>> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(Error::Kdf)?;
        Ok(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params))
    }

    /// Checks that the parameters are usable.
    pub fn validate(&self) -> Result<()> {
        self.argon2().map(|_| ())
    }

    /// Derives the user key from a passphrase and the user's 16-byte salt.
    pub fn derive(&self, passphrase: &[u8], salt: &[u8; 16]) -> Result<Key32> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        self.argon2()?.hash_password_into(passphrase, salt, &mut out[..]).map_err(Error::Kdf)?;
        Ok(Key32::from_bytes(*out))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_depends_on_passphrase_and_salt() {
        let p = KdfParams::INSECURE_FAST;
        let a = p.derive(b"pass", &[1; 16]).unwrap();
        assert_eq!(a.expose(), p.derive(b"pass", &[1; 16]).unwrap().expose());
        assert_ne!(a.expose(), p.derive(b"pasS", &[1; 16]).unwrap().expose());
        assert_ne!(a.expose(), p.derive(b"pass", &[2; 16]).unwrap().expose());
        assert!(KdfParams { m_kib: 1, t: 1, p: 1 }.validate().is_err());
        assert!(KdfParams::RECOMMENDED.meets_recommendation());
        assert!(!p.meets_recommendation());
    }
}
