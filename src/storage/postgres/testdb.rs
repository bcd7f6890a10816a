//! Test databases: a fresh schema per test on the local PostgreSQL server, so that tests run
//! in parallel. Without a reachable server the tests that need one are skipped with a message,
//! unless `CI=true`, where an unreachable server fails them.

use std::sync::atomic::{AtomicU64, Ordering};

/// The server tests use: `MEDVAULT_TEST_POSTGRES`, else the local server of the CI machines.
pub fn server_url() -> String {
    std::env::var("MEDVAULT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_string())
}

/// A schema of its own on the test server, dropped (with everything in it) on drop.
pub struct TestSchema {
    url: String,
    schema: String,
}

impl TestSchema {
    /// A new, empty schema; `None` (after saying so on stderr) when no server is reachable
    /// and `CI` is not `true`.
    ///
    /// # Panics
    /// When the server is unreachable and `CI=true`: CI must run these tests.
    pub fn new(label: &str) -> Option<TestSchema> {
        static N: AtomicU64 = AtomicU64::new(0);
        let server = server_url();
        let mut config: postgres::Config = match server.parse() {
            Ok(c) => c,
            Err(e) => panic!("MEDVAULT_TEST_POSTGRES is not a PostgreSQL URL: {e}"),
        };
        config.connect_timeout(std::time::Duration::from_secs(5));
        if let Err(e) = config.connect(postgres::NoTls) {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but the PostgreSQL server for tests is unreachable ({server}): {e}");
            }
            eprintln!(
                "skipped: no PostgreSQL server reachable for the server-backend tests ({server}: {e}); set MEDVAULT_TEST_POSTGRES, or run with CI=true to make this an error"
            );
            return None;
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let label: String =
            label.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect::<String>().to_lowercase();
        let schema = format!("mvt_{label}_{}_{nanos}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let sep = if server.contains('?') { '&' } else { '?' };
        Some(TestSchema { url: format!("{server}{sep}schema={schema}"), schema })
    }

    /// The store URL of this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.schema
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if std::env::var("MEDVAULT_KEEP_TEST_SCHEMAS").is_ok() {
            return;
        }
        if let Ok(mut c) = server_url().parse::<postgres::Config>().and_then(|c| c.connect(postgres::NoTls)) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}
