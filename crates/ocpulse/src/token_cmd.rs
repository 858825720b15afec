//! `ocpulse token create|list|revoke`: manage API tokens offline, straight in the server's
//! store (the data directory's, or its `--database-url`), so the first admin token exists
//! before anyone can call the API. Safe while a server runs on the same store: it sees a
//! new token on its first use and stops accepting a revoked one within `tokens::MAX_AGE`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ocpulse_core::Store;

use crate::tokens::{self, Created, Scope};

/// `ocpulse token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
    /// The server's data directory (the one `ocpulse serve --data-dir` uses).
    #[arg(long, env = "OCPULSE_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL database, when it runs on one (`ocpulse serve --database-url`).
    #[arg(
        long,
        env = "OCPULSE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
}

/// `ocpulse token ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (shown this once; only its hash is stored).
    Create {
        /// Who or what will use it; recorded as `requestedBy` of what it starts.
        #[arg(long)]
        name: String,
        /// read, trigger (implies read) or admin (everything); repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<Scope>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id: a running server refuses it within seconds.
    Revoke {
        /// The token id (`ocpulse token list`).
        id: String,
    },
}

/// The server's store, opened beside it (see `server::open_store`).
async fn open(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Arc<dyn Store>> {
    crate::server::open_store(data_dir, database_url, false).await
}

/// Creates a token in the SQLite store of `data_dir` (what `ocpulse token create` does).
pub async fn create(data_dir: &Path, name: &str, scopes: &[Scope]) -> anyhow::Result<Created> {
    let store = open(data_dir, None).await?;
    Ok(tokens::create(&*store, name, scopes).await?)
}

/// Revokes a token in the SQLite store of `data_dir`; false if there is none with this id.
pub async fn revoke(data_dir: &Path, id: &str) -> anyhow::Result<bool> {
    let store = open(data_dir, None).await?;
    Ok(tokens::revoke(&*store, id).await?.is_some())
}

/// `ocpulse token ...`.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let store = open(&args.data_dir, args.database_url.as_deref()).await?;
    match args.action {
        TokenAction::Create { name, scopes } => {
            let created = tokens::create(&*store, &name, &scopes).await?;
            let scopes: Vec<&str> = created.token.scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "created token {} ({}, scopes: {}); it is shown only now:",
                created.token.id,
                created.token.name,
                scopes.join(", ")
            );
            crate::stdout::line(&created.plain);
        }
        TokenAction::List => {
            let list = tokens::list(&*store).await?;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|(token, used)| {
                    let view = token.view(*used);
                    let scopes: Vec<&str> = view.scopes.iter().map(|s| s.as_str()).collect();
                    vec![
                        view.id,
                        view.name,
                        scopes.join(","),
                        view.created_at,
                        view.last_used_at.unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            crate::stdout::text(&crate::client_cmd::table(
                &["ID", "NAME", "SCOPES", "CREATED", "LAST USED"],
                &rows,
            ));
            crate::stdout::line(&format!("{} tokens", rows.len()));
        }
        TokenAction::Revoke { id } => {
            if tokens::revoke(&*store, &id).await?.is_none() {
                anyhow::bail!("no token with id {id:?}; `ocpulse token list` shows them");
            }
            crate::stdout::line(&format!("revoked token {id}"));
        }
    }
    Ok(())
}
