//! `ocpulse id-tokens`: the id-token registry stations are answered from (list, show, set,
//! delete) and pushing it to a station as its local list (docs/authorization.md).

use serde_json::{Value, json};

use super::crud::{Resource, show};
use super::http::{ClientArgs, encode};
use super::output::{cell, json as print_json};

const ID_TOKENS: Resource = Resource {
    path: "/api/v1/id-tokens",
    id: "idToken",
    columns: &[
        ("ID TOKEN", "/idToken"),
        ("TYPE", "/type"),
        ("STATUS", "/status"),
        ("ANSWERED NOW", "/answeredNow"),
        ("EXPIRY", "/expiry"),
        ("GROUP", "/groupId"),
        ("UPDATED", "/updatedAt"),
    ],
};

/// `ocpulse id-tokens`.
#[derive(Debug, clap::Args)]
pub struct IdTokensArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<IdTokensAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse id-tokens ...`.
#[derive(Debug, clap::Subcommand)]
pub enum IdTokensAction {
    /// List the registry (the default).
    List,
    /// One token, with every field.
    Show {
        /// The id token (case-insensitive).
        id_token: String,
    },
    /// Register a token or replace its entry (fields left out take their defaults).
    Set {
        /// The id token: 1 to 36 visible ASCII characters (a 1.6 idTag holds 20).
        id_token: String,
        /// Accepted (default), Blocked, Expired or Invalid.
        #[arg(long)]
        status: Option<String>,
        /// The 2.0.1 IdTokenEnumType sent in local lists (default ISO14443).
        #[arg(long = "type")]
        token_type: Option<String>,
        /// RFC 3339 time from which an Accepted token answers Expired.
        #[arg(long)]
        expiry: Option<String>,
        /// The group (1.6 parentIdTag, 2.0.1 groupIdToken).
        #[arg(long)]
        group: Option<String>,
    },
    /// Remove a token from the registry.
    Delete {
        /// The id token.
        id_token: String,
    },
    /// Send the registry to a station as SendLocalList and print its answer.
    PushLocalList {
        /// The station id.
        station: String,
        /// Full (replace the station's list) or Differential (change it; needs --id-token).
        #[arg(long, default_value = "Full")]
        update_type: String,
        /// A token to send (repeatable); default for Full: the whole registry. In a
        /// Differential update a token no longer registered is removed from the station.
        #[arg(long = "id-token")]
        id_tokens: Vec<String>,
        /// The list version to set (default: one above the station's known version).
        #[arg(long)]
        list_version: Option<i64>,
    },
}

/// `ocpulse id-tokens [list|show|set|delete|push-local-list]`.
pub async fn id_tokens(args: IdTokensArgs) -> anyhow::Result<()> {
    let c = &args.client;
    match args.action.unwrap_or(IdTokensAction::List) {
        IdTokensAction::List => ID_TOKENS.list(c, "").await,
        IdTokensAction::Show { id_token } => show(c, &c.get(&ID_TOKENS.item(&id_token)).await?),
        IdTokensAction::Set {
            id_token,
            status,
            token_type,
            expiry,
            group,
        } => {
            let body =
                json!({"status": status, "type": token_type, "expiry": expiry, "groupId": group});
            let item = c.put(&ID_TOKENS.item(&id_token), body).await?;
            show(c, &item)
        }
        IdTokensAction::Delete { id_token } => {
            let gone = c.delete(&ID_TOKENS.item(&id_token)).await?;
            if c.json {
                return print_json(&gone);
            }
            crate::stdout::line(&format!("deleted {}", cell(&gone["deleted"]["idToken"])));
            Ok(())
        }
        IdTokensAction::PushLocalList {
            station,
            update_type,
            id_tokens,
            list_version,
        } => {
            let mut body = json!({"updateType": update_type});
            if !id_tokens.is_empty() {
                body["idTokens"] = json!(id_tokens);
            }
            if let Some(v) = list_version {
                body["listVersion"] = json!(v);
            }
            let path = format!("/api/v1/stations/{}/local-list", encode(&station));
            let answer = c.post(&path, Some(body)).await?;
            if c.json {
                return print_json(&answer);
            }
            print_push(&answer);
            Ok(())
        }
    }
}

/// The station's answer to a pushed list, in one line and the tokens left out.
fn print_push(answer: &Value) {
    crate::stdout::line(&format!(
        "{}: {} (list version {}, {} update: {} sent, {} removed)",
        cell(&answer["stationId"]),
        cell(&answer["status"]),
        cell(&answer["listVersion"]),
        cell(&answer["updateType"]),
        cell(&answer["entries"]),
        cell(&answer["removals"]),
    ));
    for skipped in answer["skipped"].as_array().into_iter().flatten() {
        crate::stdout::line(&format!(
            "  left out {}: {}",
            cell(&skipped["idToken"]),
            cell(&skipped["reason"])
        ));
    }
}
