//! The small practice the store-building fuzz targets start from: an administrator, a
//! physician (`doc`) and an auditor (`dpo`), all with the passphrase [`PASS`].

use medvault::backend::Backend;
use medvault::{AccessContext, Store, StoreOptions};
use std::sync::Arc;

pub const PASS: &[u8] = b"fuzz passphrase";

pub fn ctx() -> AccessContext {
    AccessContext::treatment("fuzz")
}

/// A store on `backend` with its three users (`None` if the backend refuses, as a faulty one may).
pub fn practice(backend: Arc<dyn Backend>) -> Option<Store> {
    let (store, _) =
        Store::create_with_backend(backend, "admin", PASS, StoreOptions::insecure_fast_for_tests()).ok()?;
    let admin = store.unlock("admin", PASS, ctx()).ok()?;
    admin.add_user("doc", &["physician".to_string()], PASS).ok()?;
    admin.add_user("dpo", &["auditor".to_string()], PASS).ok()?;
    drop(admin);
    Some(store)
}
