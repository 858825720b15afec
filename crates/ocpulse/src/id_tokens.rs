//! The id-token registry's shell: loaded from the store's `Doc`s at start, changed by the
//! API (committed first, then applied in memory, so what a station is answered is always
//! durable). The decisions themselves are `ocpulse_core::authorization`'s.

use anyhow::Context as _;
use ocpulse_core::Store;
use ocpulse_core::authorization::{self, IdTokenEntry, IdTokenRegistry};
use ocpulse_core::store::{Doc, StoreError, WriteBatch};

/// Reads every stored entry. An entry that no longer reads is skipped with a warning
/// rather than stopping the server (the others still answer).
pub async fn load(store: &dyn Store) -> anyhow::Result<IdTokenRegistry> {
    let docs = store
        .docs(authorization::DOC)
        .await
        .context("cannot read the id-token registry")?;
    let entries = docs.into_iter().filter_map(|(id, body)| {
        serde_json::from_str::<IdTokenEntry>(&body)
            .inspect_err(|e| tracing::warn!(id_token = %id, error = %e, "skipping an unreadable id-token entry"))
            .ok()
    });
    let registry = IdTokenRegistry::new(entries);
    tracing::info!(tokens = registry.len(), "id-token registry loaded");
    Ok(registry)
}

/// Re-reads every stored entry into `registry` (a cluster node picking up what other nodes
/// stored).
pub async fn reload(store: &dyn Store, registry: &IdTokenRegistry) -> Result<(), StoreError> {
    let docs = store.docs(authorization::DOC).await?;
    registry.replace_all(
        docs.into_iter()
            .filter_map(|(_, body)| serde_json::from_str::<IdTokenEntry>(&body).ok()),
    );
    Ok(())
}

/// Stores `entry`, then puts it in `registry`.
pub async fn put(
    store: &dyn Store,
    registry: &IdTokenRegistry,
    entry: IdTokenEntry,
) -> Result<(), StoreError> {
    let doc = Doc::put(
        authorization::DOC,
        authorization::key(&entry.id_token),
        &entry,
    )?;
    store
        .commit(WriteBatch {
            docs: vec![doc],
            ..WriteBatch::default()
        })
        .await?;
    registry.put(entry);
    Ok(())
}

/// Deletes `id_token` from the store, then from `registry`; returns the entry it was.
pub async fn delete(
    store: &dyn Store,
    registry: &IdTokenRegistry,
    id_token: &str,
) -> Result<Option<IdTokenEntry>, StoreError> {
    store
        .commit(WriteBatch {
            docs: vec![Doc::delete(
                authorization::DOC,
                authorization::key(id_token),
            )],
            ..WriteBatch::default()
        })
        .await?;
    Ok(registry.remove(id_token))
}
