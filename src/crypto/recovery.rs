//! k-of-n Shamir shares of the recovery key (blahaj, GF(256)).
//!
//! A share prints as `mvshare1-<hex>` where hex encodes `store_id (16) || threshold (1) ||
//! x (1) || y (32) || check (4)`, `check` being the first 4 bytes of SHA-256 of what precedes it,
//! so that a typo is reported before any arithmetic. A reconstructed key is then proven right by
//! opening the store's recovery check value: wrong or too few shares give a clear error, never a
//! wrong key.

use super::Key32;
use crate::error::{Error, RecoveryError, Result};
use crate::model::InvalidInput;
use crate::model::StoreId;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

const PREFIX: &str = "mvshare1-";
const BODY_LEN: usize = 16 + 1 + 1 + 32;

/// One recovery share. No `Debug`; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryShare {
    store: [u8; 16],
    threshold: u8,
    x: u8,
    y: [u8; 32],
}

impl RecoveryShare {
    /// The store this share belongs to.
    pub fn store_id(&self) -> StoreId {
        StoreId(self.store)
    }
    /// How many shares recovery needs.
    pub fn threshold(&self) -> u8 {
        self.threshold
    }
    /// The share's index (1..=n).
    pub fn index(&self) -> u8 {
        self.x
    }

    /// The printable form, to hand to a share holder. Treat it as a secret.
    pub fn to_text(&self) -> zeroize::Zeroizing<String> {
        let mut body = zeroize::Zeroizing::new(Vec::with_capacity(BODY_LEN + 4));
        body.extend_from_slice(&self.store);
        body.push(self.threshold);
        body.push(self.x);
        body.extend_from_slice(&self.y);
        let check = Sha256::digest(&body[..]);
        body.extend_from_slice(&check[..4]);
        zeroize::Zeroizing::new(format!("{PREFIX}{}", hex::encode(&body[..])))
    }

    /// Parses the printable form.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let hexpart = t.strip_prefix(PREFIX).ok_or(RecoveryError::Prefix)?;
        let bytes = zeroize::Zeroizing::new(hex::decode(hexpart).map_err(|_| RecoveryError::NotHex)?);
        if bytes.len() != BODY_LEN + 4 {
            return Err(RecoveryError::Length { got: bytes.len(), expected: BODY_LEN + 4 }.into());
        }
        let check = Sha256::digest(&bytes[..BODY_LEN]);
        if check[..4] != bytes[BODY_LEN..] {
            return Err(RecoveryError::Checksum.into());
        }
        let mut share = RecoveryShare { store: [0; 16], threshold: bytes[16], x: bytes[17], y: [0; 32] };
        share.store.copy_from_slice(&bytes[..16]);
        share.y.copy_from_slice(&bytes[18..BODY_LEN]);
        if share.threshold < 2 || share.x == 0 {
            return Err(RecoveryError::Header.into());
        }
        Ok(share)
    }
}

/// Splits `key` into `n` shares, any `k` of which rebuild it.
pub(crate) fn split(key: &Key32, store: StoreId, k: u8, n: u8) -> Result<Vec<RecoveryShare>> {
    if k < 2 || n < k {
        return Err(InvalidInput::Rule("recovery needs 2 <= threshold <= shares <= 255").into());
    }
    let dealer = blahaj::Sharks(k).dealer(key.expose());
    let mut out = Vec::with_capacity(n as usize);
    for share in dealer.take(n as usize) {
        let bytes = zeroize::Zeroizing::new(Vec::from(&share));
        let mut y = [0u8; 32];
        y.copy_from_slice(&bytes[1..33]);
        out.push(RecoveryShare { store: store.0, threshold: k, x: bytes[0], y });
    }
    Ok(out)
}

/// Rebuilds the key from shares of `store`. The caller must still prove the key right.
pub(crate) fn combine(shares: &[RecoveryShare], store: StoreId) -> Result<Key32> {
    let first = shares.first().ok_or(RecoveryError::NoShare)?;
    let k = first.threshold;
    let mut seen = std::collections::BTreeSet::new();
    let mut parts = Vec::with_capacity(shares.len());
    for s in shares {
        if s.store != store.0 {
            return Err(RecoveryError::ForeignStore.into());
        }
        if s.threshold != k {
            return Err(RecoveryError::Threshold.into());
        }
        if seen.insert(s.x) {
            let mut bytes = zeroize::Zeroizing::new(vec![s.x]);
            bytes.extend_from_slice(&s.y);
            parts.push(blahaj::Share::try_from(&bytes[..]).map_err(|_| RecoveryError::Header)?);
        }
    }
    if parts.len() < k as usize {
        return Err(RecoveryError::TooFew { given: parts.len(), needed: k.into() }.into());
    }
    let secret = zeroize::Zeroizing::new(blahaj::Sharks(k).recover(parts.iter()).map_err(|_| RecoveryError::Combine)?);
    Key32::from_slice(&secret).ok_or(Error::Recovery(RecoveryError::Combine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_shares_rebuild_and_text_round_trips() {
        let key = Key32::random();
        let store = StoreId([7; 16]);
        let shares = split(&key, store, 3, 5).unwrap();
        let parsed: Vec<_> = shares.iter().map(|s| RecoveryShare::parse(&s.to_text()).unwrap()).collect();
        let back = combine(&parsed[1..4], store).unwrap();
        assert_eq!(back.expose(), key.expose());
        assert!(combine(&parsed[..2], store).is_err());
        // a duplicated share does not count twice
        assert!(combine(&[parsed[0].clone(), parsed[0].clone(), parsed[1].clone()], store).is_err());
        assert!(combine(&parsed[..3], StoreId([8; 16])).is_err());
        let mut text = shares[0].to_text().to_string();
        let last = text.pop().unwrap();
        text.push(if last == '0' { '1' } else { '0' });
        assert!(RecoveryShare::parse(&text).is_err());
    }
}
