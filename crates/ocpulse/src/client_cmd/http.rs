//! Where the server is, and one API request or one whole list.

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Where the server is and how to print.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "OCPULSE_SERVER",
        default_value = "http://127.0.0.1:8180",
        global = true
    )]
    pub server: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The API bearer token (`ocpulse token create`), sent as `Authorization: Bearer`.
    #[arg(long, env = "OCPULSE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl ClientArgs {
    /// A GET of `path`.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        call(self, reqwest::Method::GET, path, None).await
    }

    /// A POST of `body` (or no body) to `path`.
    pub(crate) async fn post(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        call(self, reqwest::Method::POST, path, body).await
    }

    /// A PUT of `body` to `path` (a whole replacement).
    pub(crate) async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        call(self, reqwest::Method::PUT, path, Some(body)).await
    }

    /// A DELETE of `path`.
    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        call(self, reqwest::Method::DELETE, path, None).await
    }

    /// A request whose answer is not JSON (an export), returned as it came.
    pub(crate) async fn download(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = request(self, reqwest::Method::GET, path, None).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.context("reading the answer")?;
        Err(api_error(self, status, &text))
    }
}

async fn request(
    client: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<reqwest::Response> {
    let url = format!("{}{path}", client.server.trim_end_matches('/'));
    let http = reqwest::Client::new();
    let mut request = http
        .request(method, &url)
        .header("x-requested-by", "ocpulse-cli");
    if let Some(token) = &client.token {
        request = request.bearer_auth(token.trim());
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.with_context(|| {
        format!(
            "cannot reach the ocpulse server at {} (--server)",
            client.server
        )
    })
}

/// Sends one API request; an API error becomes an error with its code and message.
async fn call(
    client: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let response = request(client, method, path, body).await?;
    let status = response.status();
    let text = response.text().await.context("reading the answer")?;
    if status.is_client_error() || status.is_server_error() {
        return Err(api_error(client, status, &text));
    }
    if text.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `STATUS code: message` from an API error body (printed whole with `--json`).
fn api_error(client: &ClientArgs, status: reqwest::StatusCode, text: &str) -> anyhow::Error {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()));
    if client.json {
        crate::stdout::line(&serde_json::to_string_pretty(&value).unwrap_or_default());
    }
    let code = value["error"].as_str().unwrap_or("error");
    let message = value["message"].as_str().unwrap_or("");
    anyhow::anyhow!("{} {code}: {message}", status.as_u16())
}

/// Reads a whole list, page by page: every list answers `{"items": [...], "next": cursor}`
/// and the next page is asked with `after=<next>` until `next` is null. `path` may carry
/// its own query.
pub(crate) async fn list_all(client: &ClientArgs, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    let join = if path.contains('?') { '&' } else { '?' };
    loop {
        let page_path = match &after {
            None => format!("{path}{join}limit=1000"),
            Some(a) => format!("{path}{join}limit=1000&after={}", encode(a)),
        };
        let mut page = client.get(&page_path).await?;
        match page["items"].take() {
            Value::Array(more) => items.extend(more),
            other => bail!("{path} did not answer a page of items: {other}"),
        }
        match page["next"].take() {
            Value::String(next) => after = Some(next),
            _ => return Ok(items),
        }
    }
}

/// Percent-encodes an id for a URL path segment (or any query value).
pub(crate) fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn station_ids_are_encoded_for_the_path() {
        assert_eq!(super::encode("CP 1/ä"), "CP%201%2F%C3%A4");
        assert_eq!(super::encode("CP-1_a.b~"), "CP-1_a.b~");
    }
}
