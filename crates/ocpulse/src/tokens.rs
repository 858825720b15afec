//! API bearer tokens: what a token is, how it is made and stored, and the server's cache of
//! them.
//!
//! A token is `ocp_` followed by 32 random bytes in unpadded base64url (43 characters). Only
//! its SHA-256 is stored: the tokens are random and long, so a fast hash is enough (no
//! password stretching needed), and a stolen database holds nothing a caller can present.
//! The plain token is shown once, when it is created.
//!
//! Tokens are `Doc`s of kind [`DOC`] (id, name, scopes, hash, createdAt), written by the API
//! or offline by `ocpulse token create` while a server may be running. The time a token was
//! last used is a separate `Doc` of kind [`USE_DOC`], so the server never rewrites a token
//! document: a late "last used" write cannot bring back a token revoked offline.
//!
//! The server keeps the tokens in memory ([`Tokens`]) and re-reads them when a presented
//! token is unknown (so one created offline works at once) or the copy is older than
//! [`MAX_AGE`] (so one revoked offline stops working within that time), never more often
//! than once per [`RELOAD_EVERY`]: a flood of bad tokens waits for the next reload instead
//! of making the server scan continuously.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpulse_core::store::StoreError;
use ocpulse_core::{Doc, Millis, Store, rfc3339};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::now_ms;

/// The doc kind of a token.
pub const DOC: &str = "apiToken";
/// The doc kind of a token's last use (same id as the token).
pub const USE_DOC: &str = "apiTokenUse";
/// Every token starts with this, so a leaked one is recognisable (secret scanners, logs).
pub const PREFIX: &str = "ocp_";
/// Random bytes in a token: 256 bits, far beyond guessing.
const RANDOM_BYTES: usize = 32;
/// Characters after the prefix: 32 bytes in unpadded base64url.
const ENCODED_LEN: usize = 43;
/// The longest token name (it becomes `requestedBy`, which allows 128).
pub const MAX_NAME: usize = 64;
/// The in-memory copy is re-read when it is older than this on a successful lookup, so a
/// token revoked offline stops working on a running server within about this long.
pub const MAX_AGE: Duration = Duration::from_secs(5);
/// Reloads happen at most this often, however many unknown tokens arrive.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// A token's last use is written at most this often (it is kept in memory meanwhile).
const USE_WRITE_EVERY: Millis = 60_000;

/// What a token may do. Ordered: each scope implies those below it (`admin` ⊃ `trigger` ⊃
/// `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every GET (except tokens and webhooks).
    Read,
    /// Station triggers, trigger jobs, schedules, freshness targets, acknowledging alerts.
    Trigger,
    /// Station registry writes, tokens, webhooks, alert rules, the validation policy.
    Admin,
}

impl Scope {
    /// Every scope, lowest first.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Trigger, Scope::Admin];

    /// Its name, as in the API and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Trigger => "trigger",
            Scope::Admin => "admin",
        }
    }

    /// Whether holding this scope allows what `needed` guards.
    pub fn implies(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}; use read, trigger or admin"))
    }
}

/// Whether any of `held` allows `needed`.
pub fn allows(held: &[Scope], needed: Scope) -> bool {
    held.iter().any(|s| s.implies(needed))
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// Its id (time-ordered), for listing and revoking.
    pub id: String,
    /// Who or what uses it; becomes `requestedBy` of what it starts.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the plain token.
    pub hash: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// When a token was last used (a separate doc, see the module comment).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenUse {
    last_used_at: Millis,
}

/// A token as listed (by the API and `ocpulse token list`): never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it was last used (RFC 3339), to within a minute; absent if never.
    pub last_used_at: Option<String>,
}

impl ApiToken {
    /// The listed form, with the last use if known.
    pub fn view(&self, last_used: Option<Millis>) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            created_at: self.created_at.clone(),
            last_used_at: last_used.map(rfc3339),
        }
    }
}

/// A newly made token: the stored record and the plain token, to be shown once.
#[derive(Debug, Clone)]
pub struct Created {
    /// What is stored.
    pub token: ApiToken,
    /// The plain token (`ocp_...`).
    pub plain: String,
}

/// Why a token could not be created.
#[derive(Debug)]
pub enum CreateError {
    /// A bad name or scope list (the message says what is allowed).
    Invalid(String),
    /// Another token has this name (names identify callers in records, so they are unique).
    NameTaken(String),
    /// The system's random source failed.
    Random,
    /// Storage failed.
    Store(StoreError),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::Invalid(m) => f.write_str(m),
            CreateError::NameTaken(name) => write!(
                f,
                "a token named {name:?} exists already; revoke it first or pick another name"
            ),
            CreateError::Random => f.write_str("no random bytes available for a token"),
            CreateError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CreateError {}

impl From<StoreError> for CreateError {
    fn from(e: StoreError) -> Self {
        CreateError::Store(e)
    }
}

/// Unpadded base64url (RFC 4648 §5), the token's alphabet.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// A new random token.
pub fn generate() -> Result<String, CreateError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; RANDOM_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CreateError::Random)?;
    Ok(format!("{PREFIX}{}", base64url(&bytes)))
}

/// Whether `s` has a token's shape (prefix, length, alphabet). Only a cheap pre-check:
/// whether it is a *known* token is decided by its hash.
pub fn well_formed(s: &str) -> bool {
    s.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == ENCODED_LEN
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The stored form of a token: hex SHA-256.
pub fn hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    crate::alerts::webhooks::hex(digest.as_ref())
}

/// Why an `Authorization` header is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader(pub &'static str);

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive,
/// RFC 6750 §2.1).
pub fn bearer(header: &[u8]) -> Result<&str, BadHeader> {
    let text = std::str::from_utf8(header)
        .map_err(|_| BadHeader("the Authorization header is not ASCII text"))?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(BadHeader(
        "the Authorization header must be `Bearer <token>`",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BadHeader(
            "only bearer tokens are accepted: `Authorization: Bearer ocp_...`",
        ));
    }
    let token = token.trim();
    if !well_formed(token) {
        return Err(BadHeader(
            "the bearer token is not an ocpulse token (`ocp_` and 43 base64url characters)",
        ));
    }
    Ok(token)
}

/// Checks a token name: 1 to [`MAX_NAME`] visible ASCII characters (inner spaces allowed),
/// trimmed.
pub fn check_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
    {
        return Err(format!(
            "a token name is 1 to {MAX_NAME} visible ASCII characters naming who uses it, e.g. \"billing-job\"; got {name:?}"
        ));
    }
    Ok(name.to_owned())
}

/// Checks a scope list: at least one, duplicates dropped, lowest first.
pub fn check_scopes(scopes: &[Scope]) -> Result<Vec<Scope>, String> {
    if scopes.is_empty() {
        return Err("a token needs at least one scope: read, trigger or admin".into());
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Every stored token, by id.
pub async fn load(store: &dyn Store) -> Result<Vec<ApiToken>, StoreError> {
    let docs = store.docs(DOC).await?;
    Ok(docs
        .into_iter()
        .filter_map(|(id, json)| match serde_json::from_str::<ApiToken>(&json) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(id, error = %e, "ignoring an unreadable API token document");
                None
            }
        })
        .collect())
}

/// Every stored token's last use (ms), by token id.
async fn load_uses(store: &dyn Store) -> Result<HashMap<String, Millis>, StoreError> {
    let docs = store.docs(USE_DOC).await?;
    Ok(docs
        .into_iter()
        .filter_map(|(id, json)| {
            serde_json::from_str::<TokenUse>(&json)
                .ok()
                .map(|u| (id, u.last_used_at))
        })
        .collect())
}

/// Every stored token as listed, with its stored last use.
pub async fn list(store: &dyn Store) -> Result<Vec<(ApiToken, Option<Millis>)>, StoreError> {
    let mut uses = load_uses(store).await?;
    Ok(load(store)
        .await?
        .into_iter()
        .map(|t| {
            let used = uses.remove(&t.id);
            (t, used)
        })
        .collect())
}

/// Makes and stores a token (durable when this returns). Used by the API and, offline, by
/// `ocpulse token create`.
pub async fn create(
    store: &dyn Store,
    name: &str,
    scopes: &[Scope],
) -> Result<Created, CreateError> {
    let name = check_name(name).map_err(CreateError::Invalid)?;
    let scopes = check_scopes(scopes).map_err(CreateError::Invalid)?;
    if load(store).await?.iter().any(|t| t.name == name) {
        return Err(CreateError::NameTaken(name));
    }
    let plain = generate()?;
    let token = ApiToken {
        id: crate::alerts::new_id(),
        name,
        scopes,
        hash: hash(&plain),
        created_at: rfc3339(now_ms()),
    };
    store
        .save_docs(vec![Doc::put(DOC, token.id.clone(), &token)?])
        .await?;
    Ok(Created { token, plain })
}

/// Deletes a token and its last-use record (durable when this returns); `None` if there
/// is no token with this id.
pub async fn revoke(store: &dyn Store, id: &str) -> Result<Option<ApiToken>, StoreError> {
    let Some(token) = load(store).await?.into_iter().find(|t| t.id == id) else {
        return Ok(None);
    };
    store
        .save_docs(vec![Doc::delete(DOC, id), Doc::delete(USE_DOC, id)])
        .await?;
    Ok(Some(token))
}

/// The server's copy of the tokens, by hash.
#[derive(Debug, Default)]
struct Cache {
    by_hash: HashMap<String, Arc<ApiToken>>,
    /// When the last reload *started* (what it read includes every commit before then).
    loaded_at: Option<Instant>,
}

/// The server's tokens: the cache, its reload policy, and last-use bookkeeping.
#[derive(Debug, Default)]
pub struct Tokens {
    cache: RwLock<Cache>,
    /// Held by a reload (and by API creates and revocations), so a reload never replaces
    /// the cache with a read older than a change the API just made.
    writing: tokio::sync::Mutex<()>,
    /// Last use by token id: (latest use, when it was last written).
    uses: Mutex<HashMap<String, (Millis, Millis)>>,
}

impl Tokens {
    /// The token with this plain value, if it is known. Re-reads the store first when the
    /// copy is too old or (at most once a second) when the token is unknown.
    pub async fn authenticate(&self, store: &dyn Store, plain: &str) -> Option<Arc<ApiToken>> {
        self.authenticate_hash(store, &hash(plain)).await
    }

    /// [`Tokens::authenticate`] by the token's hash: a dashboard session keeps the hash of
    /// the token it logged in with (never the token), so a revoked token ends its sessions.
    pub async fn authenticate_hash(&self, store: &dyn Store, h: &str) -> Option<Arc<ApiToken>> {
        let seen = Instant::now();
        let (hit, fresh) = self.lookup(h);
        if hit.is_some() && fresh {
            return hit;
        }
        if let Err(e) = self.refresh(store, seen).await {
            tracing::warn!(error = %e, "cannot re-read the API tokens; using the copy in memory");
            return hit;
        }
        self.lookup(h).0
    }

    fn lookup(&self, hash: &str) -> (Option<Arc<ApiToken>>, bool) {
        let cache = self.cache.read();
        let fresh = cache.loaded_at.is_some_and(|t| t.elapsed() < MAX_AGE);
        (cache.by_hash.get(hash).cloned(), fresh)
    }

    /// Makes sure the cache holds a read started after `seen`, reloading at most once per
    /// [`RELOAD_EVERY`]: callers arriving meanwhile wait for that reload and share it.
    async fn refresh(&self, store: &dyn Store, seen: Instant) -> Result<(), StoreError> {
        let _one = self.writing.lock().await;
        let last = self.cache.read().loaded_at;
        if last.is_some_and(|t| t > seen) {
            return Ok(());
        }
        if let Some(t) = last {
            tokio::time::sleep_until((t + RELOAD_EVERY).into()).await;
        }
        let started = Instant::now();
        let tokens = load(store).await?;
        {
            let mut cache = self.cache.write();
            cache.by_hash = tokens
                .into_iter()
                .map(|t| (t.hash.clone(), Arc::new(t)))
                .collect();
            cache.loaded_at = Some(started);
        }
        Ok(())
    }

    /// Creates a token through the API: stored, then known to this server at once.
    pub async fn create(
        &self,
        store: &dyn Store,
        name: &str,
        scopes: &[Scope],
    ) -> Result<Created, CreateError> {
        let _one = self.writing.lock().await;
        let created = create(store, name, scopes).await?;
        {
            let mut cache = self.cache.write();
            cache
                .by_hash
                .insert(created.token.hash.clone(), Arc::new(created.token.clone()));
        }
        Ok(created)
    }

    /// Revokes a token through the API: deleted, then refused by this server at once.
    pub async fn revoke(
        &self,
        store: &dyn Store,
        id: &str,
    ) -> Result<Option<ApiToken>, StoreError> {
        let _one = self.writing.lock().await;
        let revoked = revoke(store, id).await?;
        self.cache.write().by_hash.retain(|_, t| t.id != id);
        self.uses.lock().remove(id);
        Ok(revoked)
    }

    /// Every stored token as listed, with its latest use (this server's, if newer than the
    /// stored one).
    pub async fn list(&self, store: &dyn Store) -> Result<Vec<TokenView>, StoreError> {
        let stored = list(store).await?;
        let uses = self.uses.lock().clone();
        Ok(stored
            .into_iter()
            .map(|(t, used)| {
                let mine = uses.get(&t.id).map(|(at, _)| *at);
                t.view(used.max(mine))
            })
            .collect())
    }

    /// Notes that a token was used; its last use is written at most once a minute, without
    /// waiting for the write.
    pub fn touch(&self, store: &dyn Store, id: &str) {
        let now = now_ms();
        let write = {
            let mut uses = self.uses.lock();
            let entry = uses.entry(id.to_owned()).or_insert((now, Millis::MIN));
            entry.0 = now;
            if now.saturating_sub(entry.1) >= USE_WRITE_EVERY {
                entry.1 = now;
                true
            } else {
                false
            }
        };
        if write {
            match Doc::put(USE_DOC, id, &TokenUse { last_used_at: now }) {
                Ok(doc) => store.enqueue(ocpulse_core::store::WriteBatch {
                    docs: vec![doc],
                    ..Default::default()
                }),
                Err(e) => tracing::error!(token = %id, error = %e, "token use not written"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_imply_the_ones_below() {
        use Scope::{Admin, Read, Trigger};
        assert!(Admin.implies(Trigger) && Admin.implies(Read) && Admin.implies(Admin));
        assert!(Trigger.implies(Read) && !Trigger.implies(Admin));
        assert!(!Read.implies(Trigger) && !Read.implies(Admin));
        assert!(allows(&[Read, Trigger], Trigger));
        assert!(!allows(&[Read], Admin));
        assert!(!allows(&[], Read));
    }

    #[test]
    fn scopes_parse_and_print_by_name() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{s}\"")));
        }
        assert!("Admin".parse::<Scope>().is_err());
        assert!("write".parse::<Scope>().is_err());
        assert_eq!(
            check_scopes(&[Scope::Admin, Scope::Read, Scope::Admin]),
            Ok(vec![Scope::Read, Scope::Admin])
        );
        assert!(check_scopes(&[]).is_err());
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        // RFC 4648 §10, in the url alphabet without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url(plain.as_bytes()), encoded);
        }
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn generated_tokens_are_well_formed_and_differ() {
        let a = generate().expect("random");
        let b = generate().expect("random");
        assert_eq!(a.len(), PREFIX.len() + ENCODED_LEN);
        assert!(well_formed(&a) && well_formed(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!well_formed("ocp_short"));
        assert!(!well_formed(&a.replace("ocp_", "xyz_")));
        assert!(!well_formed(&format!("{}=", &a[..a.len() - 1])));
    }

    #[test]
    fn the_hash_is_hex_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_headers_are_read_strictly() {
        let token = format!("ocp_{}", "A".repeat(43));
        assert_eq!(
            bearer(format!("Bearer {token}").as_bytes()),
            Ok(token.as_str())
        );
        assert_eq!(
            bearer(format!("bearer  {token} ").as_bytes()),
            Ok(token.as_str())
        );
        assert!(bearer(b"Basic dXNlcjpwYXNz").is_err());
        assert!(bearer(b"Bearer").is_err());
        assert!(bearer(b"Bearer not-a-token").is_err());
        assert!(bearer(&[0xff, 0x20, 0x41]).is_err());
        assert!(bearer(token.as_bytes()).is_err(), "no scheme");
    }

    #[test]
    fn names_are_visible_ascii_of_bounded_length() {
        assert_eq!(check_name("  billing job "), Ok("billing job".into()));
        assert!(check_name("").is_err());
        assert!(check_name("   ").is_err());
        assert!(check_name("tab\there").is_err());
        assert!(check_name("ünï").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME)).is_ok());
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
    }
    /// A store that keeps only documents, in memory, and counts reads of the tokens.
    #[derive(Default)]
    struct DocsOnly {
        docs: Mutex<std::collections::BTreeMap<(&'static str, String), String>>,
        token_reads: std::sync::atomic::AtomicUsize,
    }

    impl DocsOnly {
        fn reads(&self) -> usize {
            self.token_reads.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Store for DocsOnly {
        fn commit(
            &self,
            batch: ocpulse_core::store::WriteBatch,
        ) -> ocpulse_core::store::BoxFuture<Result<(), StoreError>> {
            {
                let mut docs = self.docs.lock();
                for d in batch.docs {
                    match d.change {
                        ocpulse_core::DocChange::Put(body) => docs.insert((d.kind, d.id), body),
                        ocpulse_core::DocChange::Delete => docs.remove(&(d.kind, d.id)),
                    };
                }
            }
            Box::pin(async { Ok(()) })
        }
        fn trigger(
            &self,
            _: String,
        ) -> ocpulse_core::store::BoxFuture<
            Result<Option<ocpulse_core::trigger_record::TriggerRecord>, StoreError>,
        > {
            Box::pin(async { Ok(None) })
        }
        fn triggers(
            &self,
            _: ocpulse_core::trigger_record::TriggerQuery,
        ) -> ocpulse_core::store::BoxFuture<
            Result<Vec<(i64, ocpulse_core::trigger_record::TriggerRecord)>, StoreError>,
        > {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn journal(
            &self,
            _: ocpulse_core::journal::JournalQuery,
        ) -> ocpulse_core::store::BoxFuture<Result<Vec<ocpulse_core::JournalEntry>, StoreError>>
        {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn journal_scan(
            &self,
            _: ocpulse_core::journal::JournalScan,
        ) -> ocpulse_core::store::BoxFuture<Result<Vec<ocpulse_core::JournalEntry>, StoreError>>
        {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn journal_after(
            &self,
            _: i64,
            _: usize,
        ) -> ocpulse_core::store::BoxFuture<Result<Vec<ocpulse_core::JournalEntry>, StoreError>>
        {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn journal_head(&self) -> ocpulse_core::store::BoxFuture<Result<i64, StoreError>> {
            Box::pin(async { Ok(0) })
        }
        fn journal_seq_before(
            &self,
            _: ocpulse_core::Millis,
        ) -> ocpulse_core::store::BoxFuture<Result<i64, StoreError>> {
            Box::pin(async { Ok(0) })
        }
        fn journal_stats(
            &self,
        ) -> ocpulse_core::store::BoxFuture<Result<ocpulse_core::retention::JournalStats, StoreError>>
        {
            Box::pin(async { Ok(Default::default()) })
        }
        fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<ocpulse_core::JournalEntry>> {
            tokio::sync::broadcast::channel(1).1
        }
        fn docs(
            &self,
            kind: &'static str,
        ) -> ocpulse_core::store::BoxFuture<Result<Vec<(String, String)>, StoreError>> {
            if kind == DOC {
                self.token_reads
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            let list: Vec<(String, String)> = self
                .docs
                .lock()
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, id), body)| (id.clone(), body.clone()))
                .collect();
            Box::pin(async move { Ok(list) })
        }
        fn load_snapshot(&self) -> Result<ocpulse_core::store::Snapshot, StoreError> {
            Ok(ocpulse_core::store::Snapshot::default())
        }
        fn station_snapshots(
            &self,
            _: Vec<String>,
        ) -> ocpulse_core::store::BoxFuture<Result<Vec<ocpulse_core::projection::Folded>, StoreError>>
        {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn last_transaction_id(&self) -> Result<i64, StoreError> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn unknown_tokens_make_the_server_reread_at_most_once_a_second() {
        let store = DocsOnly::default();
        let known = create(&store, "ops", &[Scope::Admin])
            .await
            .expect("create");
        let tokens = Tokens::default();
        assert!(tokens.authenticate(&store, &known.plain).await.is_some());
        let first = store.reads();
        // A burst of unknown tokens shares one reload.
        let started = Instant::now();
        let unknown: Vec<String> = (0..50).map(|_| generate().expect("random")).collect();
        let answers =
            futures_util::future::join_all(unknown.iter().map(|t| tokens.authenticate(&store, t)))
                .await;
        assert!(answers.iter().all(Option::is_none));
        assert!(
            store.reads() - first <= 1,
            "{} reloads",
            store.reads() - first
        );
        // A steady stream of them: about one reload per second, however many arrive.
        while started.elapsed() < Duration::from_millis(2500) {
            let bad = generate().expect("random");
            assert!(tokens.authenticate(&store, &bad).await.is_none());
        }
        let reloads = store.reads() - first;
        assert!((1..=4).contains(&reloads), "{reloads} reloads in 2.5 s");
        // Known tokens are answered from memory meanwhile.
        let before = store.reads();
        for _ in 0..100 {
            assert!(tokens.authenticate(&store, &known.plain).await.is_some());
        }
        assert_eq!(store.reads(), before);
    }

    #[tokio::test]
    async fn a_token_stored_by_another_process_is_found_on_its_first_use() {
        let store = DocsOnly::default();
        let tokens = Tokens::default();
        let early = generate().expect("random");
        assert!(tokens.authenticate(&store, &early).await.is_none());
        // Made "offline" right after a miss: the next miss waits for the next reload.
        let offline = create(&store, "cli", &[Scope::Read]).await.expect("create");
        let found = tokens.authenticate(&store, &offline.plain).await;
        assert_eq!(found.map(|t| t.name.clone()).as_deref(), Some("cli"));
        // Revoked through this server: refused at once, and absent from the list.
        assert!(
            tokens
                .revoke(&store, &offline.token.id)
                .await
                .expect("revoke")
                .is_some()
        );
        assert!(tokens.authenticate(&store, &offline.plain).await.is_none());
        assert!(tokens.list(&store).await.expect("list").is_empty());
    }
}
