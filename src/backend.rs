//! For people writing a storage backend: the [`Backend`] trait, its [`Batch`] and keyspaces
//! ([`Space`]), and the backends medvault ships.
//!
//! A backend stores opaque bytes in ordered keyspaces, applies a batch atomically and makes
//! everything applied durable on [`Backend::flush`]. It never sees plaintext: the layers above
//! hand it ciphertext, ids and public metadata only. `docs/format.md` describes every key and
//! value it will be given.

pub use crate::error::StorageError;
pub use crate::storage::engine::Engine;
pub use crate::storage::memory::MemoryBackend;
#[cfg(feature = "postgres")]
pub use crate::storage::postgres::{PostgresBackend, is_server_url};
pub use crate::storage::redb_backend::RedbBackend;
pub use crate::storage::sled_backend::SledBackend;
pub use crate::storage::{AfterSync, Backend, Batch, Expectation, Op, Order, Pair, Space, StorageResult, prefix_end};
