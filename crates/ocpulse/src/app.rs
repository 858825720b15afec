//! The state every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ocpp_rpc::SchemaRegistry;
use ocpulse_core::Store;
use ocpulse_core::trigger_record::TriggerRecord;

use crate::config::ServerConfig;
use crate::registry::Registry;

/// How many 1.6 transaction ids are reserved from the store at a time.
const TX_ID_BLOCK: i64 = 1000;

/// Shared application state.
pub struct App {
    /// The settings.
    pub config: ServerConfig,
    /// The journal and station store.
    pub store: Arc<dyn Store>,
    /// Every official schema, compiled once at start.
    pub schemas: SchemaRegistry,
    /// Known stations and their sessions.
    pub stations: Registry,
    /// Cancelled at shutdown so every session closes its socket and the server can exit.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Triggers still running, by id: their latest record, for `GET /api/v1/triggers/{id}`
    /// before the final one is stored.
    pub running: Mutex<HashMap<String, TriggerRecord>>,
    tx_ids: Mutex<(i64, i64)>,
}

impl App {
    /// Builds the state, loading every known station from the store.
    pub fn new(config: ServerConfig, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let schemas = SchemaRegistry::load().map_err(anyhow::Error::msg)?;
        let stations = Registry::with_stations(store.load_stations()?);
        Ok(Self {
            config,
            store,
            schemas,
            stations,
            shutdown: Default::default(),
            running: Mutex::default(),
            tx_ids: Mutex::new((0, 0)),
        })
    }

    /// A 1.6 transaction id never handed out before, even across restarts.
    pub fn allocate_transaction_id(&self) -> Option<i64> {
        let mut block = self.tx_ids.lock().ok()?;
        if block.0 >= block.1 {
            let start = self.store.reserve_transaction_ids(TX_ID_BLOCK).ok()?;
            *block = (start, start + TX_ID_BLOCK);
        }
        let id = block.0;
        block.0 += 1;
        Some(id)
    }
}
