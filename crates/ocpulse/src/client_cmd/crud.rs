//! What the resource commands share: `list` (a table of chosen columns), `show` (one
//! object as `key: value` lines), `create` (a JSON body from `--body`), `delete`; each
//! resource file only says its path, id field and columns.

use std::io::Read as _;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::http::{ClientArgs, encode, list_all};
use super::output::{cell, json as print_json, outcome, print_table};

/// One API collection as the CLI shows it.
pub(crate) struct Resource {
    /// The collection's path, e.g. `/api/v1/schedules`.
    pub path: &'static str,
    /// The field holding an item's id.
    pub id: &'static str,
    /// Table columns: header and JSON pointer into an item.
    pub columns: &'static [(&'static str, &'static str)],
}

/// The subcommands every collection with full CRUD has.
#[derive(Debug, clap::Subcommand)]
pub enum CrudAction {
    /// List them (the default).
    List,
    /// One, with every field.
    Show {
        /// Its id.
        id: String,
    },
    /// Create one from the API's JSON body (see the manual page for its fields).
    Create {
        /// The body: JSON text, `@FILE` for a file, or `-` for stdin.
        #[arg(long)]
        body: String,
    },
    /// Delete one.
    Delete {
        /// Its id.
        id: String,
    },
}

/// `replace`, for the collections whose items can be replaced whole (`PUT`).
#[derive(Debug, clap::Subcommand)]
pub enum ReplaceAction {
    /// List, show, create or delete.
    #[command(flatten)]
    Crud(CrudAction),
    /// Replace one with a new JSON body (the same fields as `create`).
    Replace {
        /// Its id.
        id: String,
        /// The body: JSON text, `@FILE` for a file, or `-` for stdin.
        #[arg(long)]
        body: String,
    },
}

impl Resource {
    /// Runs a shared subcommand or `replace`.
    pub(crate) async fn run_replaceable(
        &self,
        c: &ClientArgs,
        action: ReplaceAction,
    ) -> anyhow::Result<()> {
        match action {
            ReplaceAction::Crud(action) => self.run(c, action).await,
            ReplaceAction::Replace { id, body } => {
                let item = c.put(&self.item(&id), read_body(&body)?).await?;
                show(c, &item)
            }
        }
    }

    /// Runs one of the shared subcommands.
    pub(crate) async fn run(&self, c: &ClientArgs, action: CrudAction) -> anyhow::Result<()> {
        match action {
            CrudAction::List => self.list(c, "").await,
            CrudAction::Show { id } => {
                let item = c.get(&self.item(&id)).await?;
                show(c, &item)
            }
            CrudAction::Create { body } => {
                let item = c.post(self.path, Some(read_body(&body)?)).await?;
                if c.json {
                    return print_json(&item);
                }
                crate::stdout::line(&format!("created {}", cell(&item[self.id])));
                show(c, &item)
            }
            CrudAction::Delete { id } => {
                let gone = c.delete(&self.item(&id)).await?;
                if c.json {
                    return print_json(&gone);
                }
                crate::stdout::line(&format!("deleted {id}"));
                Ok(())
            }
        }
    }

    /// The path of one item.
    pub(crate) fn item(&self, id: &str) -> String {
        format!("{}/{}", self.path, encode(id))
    }

    /// Lists the whole collection (`query`: `?a=b` filters, or empty) as a table.
    pub(crate) async fn list(&self, c: &ClientArgs, query: &str) -> anyhow::Result<()> {
        list_table(c, &format!("{}{query}", self.path), self.columns).await
    }
}

/// Lists every item of `path` as a table of `columns` (header, JSON pointer).
pub(crate) async fn list_table(
    c: &ClientArgs,
    path: &str,
    columns: &[(&str, &str)],
) -> anyhow::Result<()> {
    let items = list_all(c, path).await?;
    if c.json {
        return print_json(&json!({"items": items, "next": null}));
    }
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(h, pointer)| {
                    let v = cell(item.pointer(pointer).unwrap_or(&Value::Null));
                    if *h == "STATUS" { outcome(&v) } else { v }
                })
                .collect()
        })
        .collect();
    print_table(&header, &rows);
    Ok(())
}

/// One object: each field on its own line, nested values as compact JSON.
pub(crate) fn show(c: &ClientArgs, item: &Value) -> anyhow::Result<()> {
    if c.json {
        return print_json(item);
    }
    let Some(fields) = item.as_object() else {
        return print_json(item);
    };
    let width = fields.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in fields {
        let shown = match value {
            Value::Object(_) | Value::Array(_) => serde_json::to_string(value)?,
            other => cell(other),
        };
        crate::stdout::line(&format!("{key:<width$}  {shown}"));
    }
    Ok(())
}

/// `--body`: JSON text, `@FILE`, or `-` for stdin; checked to be JSON before it is sent.
pub(crate) fn read_body(arg: &str) -> anyhow::Result<Value> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the body from stdin")?;
        text
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
    } else {
        arg.to_owned()
    };
    serde_json::from_str(&text).context("--body is not JSON")
}
