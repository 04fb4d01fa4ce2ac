//! The store contract against SQLite.

use chat_store::{SqliteConfig, SqliteStore, conformance};

#[tokio::test]
async fn sqlite_store_satisfies_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("t.db")))
        .await
        .unwrap();
    conformance::check(&store, 1_000).await;
    // Reopening applies no migration twice and keeps the data.
    store.close().await;
    let store = SqliteStore::open(&SqliteConfig::new(dir.path().join("t.db")))
        .await
        .unwrap();
    conformance::check(&store, 2_000).await;
}
