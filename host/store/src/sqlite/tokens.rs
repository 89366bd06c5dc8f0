//! API tokens: the `api_tokens` table (schema V5), its reads and its writes.
//!
//! A revoked token keeps its row (`revoked_at` set) so that the bootstrap token, installed
//! again at every start from the configuration or the token file, stays revoked; every read
//! but that one sees live tokens only.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::codec::{Failure, Outcome};
use super::writer::WriteCtx;
use crate::{BootstrapToken, StoreError};
use hookline_core::model::Millis;
use hookline_core::token::{BOOTSTRAP_TOKEN_ID, TokenDigest, TokenRecord, TokenScope};

const COLUMNS: &str = "id, name, scope, digest, created_at, last_used_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let scope: String = row.get(2)?;
    let digest: Vec<u8> = row.get(3)?;
    let digest = TokenDigest::from_slice(&digest).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Blob,
            format!("a token digest is 32 bytes, not {}", digest.len()).into(),
        )
    })?;
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        // A scope written by a newer version grants nothing here.
        scope: scope.parse().unwrap_or(TokenScope::Unknown),
        digest,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
    })
}

pub(super) fn list(conn: &Connection) -> Outcome<Vec<TokenRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(super) fn find(conn: &Connection, digest: &TokenDigest) -> Outcome<Option<TokenRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE digest = ?1 AND revoked_at IS NULL"
    ))?;
    Ok(stmt
        .query_row([&digest.as_bytes()[..]], from_row)
        .optional()?)
}

fn insert(conn: &Connection, token: &TokenRecord) -> Outcome<()> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (id, name, scope, digest, created_at, last_used_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)",
    )?
    .execute(params![
        token.id,
        token.name,
        token.scope.as_str(),
        &token.digest.as_bytes()[..],
        token.created_at,
        token.last_used_at,
    ])?;
    Ok(())
}

pub(super) fn create(ctx: &mut WriteCtx, token: TokenRecord) -> Outcome<TokenRecord> {
    let conn = &ctx.conn;
    let taken: Option<String> = conn
        .prepare_cached("SELECT id FROM api_tokens WHERE id = ?1 OR digest = ?2")?
        .query_row(params![token.id, &token.digest.as_bytes()[..]], |r| {
            r.get(0)
        })
        .optional()?;
    if taken.is_some() {
        return Err(Failure::Refused(StoreError::Conflict {
            kind: "token",
            id: token.id,
        }));
    }
    insert(conn, &token)?;
    Ok(token)
}

pub(super) fn revoke(ctx: &mut WriteCtx, (id, now): (String, Millis)) -> Outcome<TokenRecord> {
    let conn = &ctx.conn;
    let token = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE id = ?1 AND revoked_at IS NULL"
        ))?
        .query_row([&id], from_row)
        .optional()?;
    let Some(token) = token else {
        return Err(Failure::Refused(StoreError::NotFound { kind: "token", id }));
    };
    if token.scope == TokenScope::Admin {
        let admins: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM api_tokens WHERE scope = 'admin' AND revoked_at IS NULL",
            )?
            .query_row([], |r| r.get(0))?;
        if admins <= 1 {
            return Err(Failure::Refused(StoreError::InvalidState(format!(
                "token `{id}` is the last admin token: revoking it would lock every operator \
                 out; create another admin token first (`hookline tokens create --scope admin`)"
            ))));
        }
    }
    conn.prepare_cached("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(token)
}

pub(super) fn touch(ctx: &mut WriteCtx, used: Vec<(String, Millis)>) -> Outcome<()> {
    let mut stmt = ctx.conn.prepare_cached(
        "UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
    )?;
    for (id, at) in used {
        stmt.execute(params![id, at])?;
    }
    Ok(())
}

pub(super) fn install_bootstrap(ctx: &mut WriteCtx, token: TokenRecord) -> Outcome<BootstrapToken> {
    let conn = &ctx.conn;
    let stored: Option<(Vec<u8>, Option<Millis>)> = conn
        .prepare_cached("SELECT digest, revoked_at FROM api_tokens WHERE id = ?1")?
        .query_row([BOOTSTRAP_TOKEN_ID], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let wanted = token.digest;
    let same = |digest: &[u8]| TokenDigest::from_slice(digest) == Some(wanted);
    match stored {
        None => {
            insert(
                conn,
                &TokenRecord {
                    id: BOOTSTRAP_TOKEN_ID.to_owned(),
                    scope: TokenScope::Admin,
                    ..token
                },
            )?;
            Ok(BootstrapToken::Created)
        }
        Some((digest, Some(_))) if same(&digest) => Ok(BootstrapToken::Revoked),
        Some((digest, None)) if same(&digest) => Ok(BootstrapToken::Kept),
        Some(_) => {
            // The configuration names another token: it replaces the old one, which stops
            // working. A token created through the API with this secret is the same token.
            conn.prepare_cached("DELETE FROM api_tokens WHERE digest = ?1 AND id <> ?2")?
                .execute(params![&token.digest.as_bytes()[..], BOOTSTRAP_TOKEN_ID])?;
            conn.prepare_cached(
                "UPDATE api_tokens SET name = ?2, scope = 'admin', digest = ?3, created_at = ?4, \
                 last_used_at = NULL, revoked_at = NULL WHERE id = ?1",
            )?
            .execute(params![
                BOOTSTRAP_TOKEN_ID,
                token.name,
                &token.digest.as_bytes()[..],
                token.created_at
            ])?;
            Ok(BootstrapToken::Replaced)
        }
    }
}
