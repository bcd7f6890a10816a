//! Decrypted data that has not been released yet.

use crate::audit::AuditReceipt;

/// Plaintext waiting for its audit event. The only way out is [`Opened::release`], which needs
/// the receipt of a durable audit append; the field is private to this module.
pub struct Opened<T>(T);

impl<T> Opened<T> {
    pub(crate) fn new(value: T) -> Self {
        Opened(value)
    }
    /// Hands the data out, in exchange for proof that the access is on the audit log.
    pub fn release(self, _receipt: &AuditReceipt) -> T {
        self.0
    }
}
