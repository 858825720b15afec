//! The station registry's records, held in memory for the handshake and written through
//! the store as `Doc`s (kind `registration`), so a registration is durable before the API
//! answers and a refused identity never touches storage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use ocpulse_core::admission::{REGISTRATION_DOC, Registration};
use ocpulse_core::store::StoreError;
use ocpulse_core::{Doc, Store};
use parking_lot::RwLock;

/// Every registration, by identity, plus failed-login counters (not stored: they are
/// rebuilt by running, and the journal keeps each refusal).
#[derive(Debug, Default)]
pub struct Registrations {
    by_id: RwLock<HashMap<String, Registration>>,
    failures: RwLock<HashMap<String, u64>>,
    refused_total: AtomicU64,
}

impl Registrations {
    /// Loads every stored registration; an unreadable one is a startup error, not a
    /// station silently locked out.
    pub async fn load(store: &dyn Store) -> anyhow::Result<Self> {
        let mut by_id = HashMap::new();
        for (id, json) in store.docs(REGISTRATION_DOC).await? {
            let reg: Registration = serde_json::from_str(&json).map_err(|e| {
                anyhow::anyhow!("the stored registration of station {id:?} is unreadable: {e}")
            })?;
            by_id.insert(id, reg);
        }
        Ok(Self {
            by_id: RwLock::new(by_id),
            ..Self::default()
        })
    }

    /// Re-reads every stored registration (a cluster node picking up what other nodes
    /// stored); an unreadable one keeps the copy in memory.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut by_id = HashMap::new();
        for (id, json) in store.docs(REGISTRATION_DOC).await? {
            match serde_json::from_str::<Registration>(&json) {
                Ok(reg) => {
                    by_id.insert(id, reg);
                }
                Err(e) => {
                    tracing::warn!(station = %id, error = %e, "stored registration unreadable; keeping the copy in memory");
                    if let Some(old) = self.get(&id) {
                        by_id.insert(id, old);
                    }
                }
            }
        }
        *self.write() = by_id;
        Ok(())
    }

    /// One registration.
    pub fn get(&self, id: &str) -> Option<Registration> {
        self.read().get(id).cloned()
    }

    /// Every registration, sorted by identity.
    pub fn all(&self) -> Vec<Registration> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Stores a registration (durable when this returns) and makes it the one the handshake
    /// sees.
    pub async fn put(&self, store: &dyn Store, reg: Registration) -> Result<(), StoreError> {
        store
            .save_docs(vec![Doc::put(REGISTRATION_DOC, reg.id.clone(), &reg)?])
            .await?;
        self.write().insert(reg.id.clone(), reg);
        Ok(())
    }

    /// Records an auto-registration without waiting for the write: development mode only,
    /// and a registration lost in a crash is made again at the next connection.
    pub fn put_unawaited(&self, store: &dyn Store, reg: Registration) {
        match Doc::put(REGISTRATION_DOC, reg.id.clone(), &reg) {
            Ok(doc) => store.enqueue(ocpulse_core::store::WriteBatch {
                docs: vec![doc],
                ..Default::default()
            }),
            Err(e) => {
                tracing::error!(station = %reg.id, error = %e, "auto-registration not written")
            }
        }
        self.write().insert(reg.id.clone(), reg);
    }

    /// Deletes a registration (durable when this returns). False if there was none.
    pub async fn delete(&self, store: &dyn Store, id: &str) -> Result<bool, StoreError> {
        if self.get(id).is_none() {
            return Ok(false);
        }
        store
            .save_docs(vec![Doc::delete(REGISTRATION_DOC, id)])
            .await?;
        self.write().remove(id);
        Ok(true)
    }

    /// Counts a refused connection (per registered station, and in total).
    pub fn count_refusal(&self, id: &str) {
        self.refused_total.fetch_add(1, Ordering::Relaxed);
        if self.read().contains_key(id) {
            *self.failures.write().entry(id.to_owned()).or_default() += 1;
        }
    }

    /// Refused connections of a registered station since the start.
    pub fn refusals(&self, id: &str) -> u64 {
        self.failures.read().get(id).copied().unwrap_or(0)
    }

    /// Refused connections of any identity since the start.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, HashMap<String, Registration>> {
        self.by_id.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, HashMap<String, Registration>> {
        self.by_id.write()
    }
}
