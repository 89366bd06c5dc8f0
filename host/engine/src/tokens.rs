//! The operations behind `/v1/tokens` and every request's authentication: create, list and
//! revoke API tokens, and find the token a request presents.
//!
//! Tokens live in the store (only the digest of each secret). Authentication goes through a
//! cache in memory, keyed by digest, filled from the store on a miss and emptied of a token
//! as soon as this engine revokes it, so a request costs no store read and a revoked token
//! is refused at once. (Another daemon sharing the store sees a revocation when it restarts;
//! the SQLite store is one daemon's.) `last_used_at` is kept in memory for every request
//! and written at most once a minute per token, beside the request, never in its way.

use std::sync::Arc;
use std::sync::Mutex;

use foldhash::HashMap;

use super::{Engine, EngineError, Inner};
use hookline_contract::token::{CreatedToken, TokenView, WhoAmI};
use hookline_core::ids::new_id_at;
use hookline_core::model::Millis;
use hookline_core::token::{
    BOOTSTRAP_TOKEN_ID, TokenDigest, TokenRecord, TokenScope, TokenSecret, check_name, check_scope,
};
use hookline_store::BootstrapToken;

/// How often a token's `last_used_at` is written at most.
pub const LAST_USED_WRITE_INTERVAL_MS: Millis = 60_000;

/// Tokens this engine has seen, by digest (`TokenDigest`'s equality is constant time).
#[derive(Default)]
pub(crate) struct TokenCache {
    by_digest: Mutex<HashMap<TokenDigest, Cached>>,
}

struct Cached {
    who: Arc<WhoAmI>,
    /// Last presented (in memory).
    last_used: Option<Millis>,
    /// Last written to the store.
    written: Option<Millis>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenDigest, Cached>> {
        // A panic while holding it left nothing half-changed: the map is still valid.
        self.by_digest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the token used at `now`; returns its principal and whether to write the time.
    fn hit(&self, digest: &TokenDigest, now: Millis) -> Option<(Arc<WhoAmI>, bool)> {
        let mut map = self.lock();
        let cached = map.get_mut(digest)?;
        cached.last_used = Some(now);
        let due = cached
            .written
            .is_none_or(|at| now - at >= LAST_USED_WRITE_INTERVAL_MS);
        if due {
            cached.written = Some(now);
        }
        Some((Arc::clone(&cached.who), due))
    }

    fn insert(&self, record: &TokenRecord) {
        let who = Arc::new(WhoAmI {
            id: record.id.clone(),
            name: record.name.clone(),
            scope: record.scope,
        });
        self.lock().insert(
            record.digest,
            Cached {
                who,
                last_used: record.last_used_at,
                written: record.last_used_at,
            },
        );
    }

    fn remove_id(&self, id: &str) {
        self.lock().retain(|_, cached| cached.who.id != id);
    }

    fn last_used(&self, id: &str) -> Option<Millis> {
        self.lock()
            .values()
            .find(|cached| cached.who.id == id)
            .and_then(|cached| cached.last_used)
    }
}

impl Inner {
    /// Writes a token's last use beside the request (a failure is only logged: the time is
    /// advisory and written again a minute later).
    fn touch_token(self: &Arc<Self>, id: String, now: Millis) {
        let inner = Arc::clone(self);
        self.tasks.spawn(async move {
            if let Err(e) = inner.store.touch_tokens(vec![(id, now)]).await {
                tracing::debug!(error = %e, "could not record a token's last use");
            }
        });
    }
}

impl Engine {
    /// The token whose secret is `secret`, if it is live: its id, name and scope. Counts as
    /// a use of it.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Arc<WhoAmI>>, EngineError> {
        if secret.is_empty() {
            return Ok(None);
        }
        let inner = &self.inner;
        let digest = TokenDigest::of(secret);
        let now = inner.now_ms();
        let found = match inner.tokens.hit(&digest, now) {
            Some(found) => Some(found),
            None => match inner.store.find_token(digest).await? {
                Some(record) => {
                    inner.tokens.insert(&record);
                    inner.tokens.hit(&digest, now)
                }
                None => None,
            },
        };
        Ok(found.map(|(who, write)| {
            if write {
                inner.touch_token(who.id.clone(), now);
            }
            who
        }))
    }

    /// Creates a token; the answer carries its secret, which is never shown again.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
    ) -> Result<CreatedToken, EngineError> {
        check_name(name).map_err(|m| EngineError::invalid("name", m))?;
        check_scope(scope).map_err(|m| EngineError::invalid("scope", m))?;
        let inner = &self.inner;
        let now = inner.now_ms();
        let secret = TokenSecret::generate(scope);
        let record = TokenRecord {
            id: new_id_at("tok", now),
            name: name.to_owned(),
            scope,
            digest: secret.digest(),
            created_at: now,
            last_used_at: None,
        };
        let stored = inner.store.create_token(record).await?;
        inner.tokens.insert(&stored);
        tracing::info!(token = %stored.id, scope = %scope, "created an API token");
        Ok(CreatedToken {
            token: stored.view(),
            secret: secret.expose().to_owned(),
        })
    }

    /// Every live token, oldest first, with the last use this engine saw.
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>, EngineError> {
        let inner = &self.inner;
        let records = inner.store.list_tokens().await?;
        Ok(records
            .iter()
            .map(|record| {
                let mut view = record.view();
                view.last_used_at = view.last_used_at.max(inner.tokens.last_used(&record.id));
                view
            })
            .collect())
    }

    /// Revokes a token: refused from the next request on. The last admin token cannot be
    /// revoked (409 `invalid_state`).
    pub async fn revoke_token(&self, id: &str) -> Result<TokenView, EngineError> {
        let inner = &self.inner;
        let revoked = inner
            .store
            .revoke_token(id.to_owned(), inner.now_ms())
            .await?;
        inner.tokens.remove_id(id);
        tracing::info!(token = %id, "revoked an API token");
        Ok(revoked.view())
    }

    /// Installs the daemon's own admin token (from its configuration or first-start file)
    /// as [`BOOTSTRAP_TOKEN_ID`], named `name`: see [`BootstrapToken`].
    pub async fn install_bootstrap_token(
        &self,
        secret: &str,
        name: &str,
    ) -> Result<BootstrapToken, EngineError> {
        let inner = &self.inner;
        let record = TokenRecord {
            id: BOOTSTRAP_TOKEN_ID.to_owned(),
            name: name.to_owned(),
            scope: TokenScope::Admin,
            digest: TokenDigest::of(secret),
            created_at: inner.now_ms(),
            last_used_at: None,
        };
        let outcome = inner.store.install_bootstrap_token(record).await?;
        if outcome == BootstrapToken::Replaced {
            // The old bootstrap token may be cached (an embedder installing twice).
            inner.tokens.remove_id(BOOTSTRAP_TOKEN_ID);
        }
        Ok(outcome)
    }
}
