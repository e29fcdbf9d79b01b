//! Token introspection (RFC 7662) and revocation (RFC 7009): what the engine knows about a
//! token a resource server or client presents, and how a client ends one. A token is active
//! only while it is unexpired, its signature key is live, it is not revoked, its session is not
//! revoked, and no later login superseded it (the single-active-token marker). A Katana ticket
//! (`[katana]`) is active while its MAC checks under the machineKey, its `.expires` has not
//! passed and it is not revoked: like the legacy resource server, nothing else is known of it.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Client, ClientAuth, Engine, jti_key, katana, opaque_key};
use crate::domain::{
    ClientId, RefreshRecord, RefreshToken, SessionId, StoreError, Subject, UserId,
};

/// Why an introspection or revocation call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EndpointError {
    /// The caller is not a registered client, or did not prove it (RFC 7662 §2.1, RFC 7009 §2.1).
    #[error("the caller is not an authenticated client")]
    Unauthenticated,
    /// A client asked to revoke a token that was issued to another client (RFC 7009 §2.1).
    #[error("the token was not issued to this client")]
    TokenNotOwned,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which kind of token was introspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    /// The `token_type_hint` / introspection `token_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }

    pub fn from_hint(hint: &str) -> Option<Self> {
        match hint {
            "access_token" => Some(TokenKind::Access),
            "refresh_token" => Some(TokenKind::Refresh),
            _ => None,
        }
    }
}

/// What introspection reports about an active token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub kind: TokenKind,
    /// `None` for a Katana ticket that names no client (the template's never do).
    pub client_id: Option<String>,
    pub sub: String,
    pub username: Option<String>,
    pub role: Option<String>,
    pub scope: Option<String>,
    pub exp: i64,
    pub iat: Option<i64>,
    pub nbf: Option<i64>,
    pub jti: Option<String>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    /// `None` for a Katana ticket: it belongs to no session of the gateway's.
    pub sid: Option<String>,
}

impl Engine {
    /// Authenticates a caller of the introspection or revocation endpoint: a registered client,
    /// with its secret when it is confidential.
    pub fn authenticate_caller(&self, auth: &ClientAuth) -> Result<Arc<Client>, EndpointError> {
        let id = auth.id.as_ref().ok_or(EndpointError::Unauthenticated)?;
        let client = self
            .directory
            .client(id)
            .ok_or(EndpointError::Unauthenticated)?;
        client
            .authenticate(auth.secret.as_ref())
            .map_err(|_| EndpointError::Unauthenticated)?;
        Ok(client)
    }

    /// Reports on a token; `None` means inactive (unknown, expired, revoked or superseded).
    /// The hint only decides which kind is looked up first (RFC 7662 §2.1).
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        let now = self.clock.now();
        let order = match hint {
            Some(TokenKind::Refresh) => [TokenKind::Refresh, TokenKind::Access],
            _ => [TokenKind::Access, TokenKind::Refresh],
        };
        for kind in order {
            let found = match kind {
                TokenKind::Access => self.active_access(token, now).await?,
                TokenKind::Refresh => self.active_refresh(token, now).await?,
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn active_access(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        let claims = match self.keys.verify(token, now) {
            Some(claims) => claims,
            None => {
                // The MAC fails in about a microsecond under another key: each is tried.
                if let Some((katana, (ticket, expires))) = self
                    .katanas
                    .iter()
                    .find_map(|k| Some((k, k.format.read_live(token, now)?)))
                {
                    return self
                        .active_ticket(TokenKind::Access, katana, token, &ticket, expires, now)
                        .await;
                }
                match self.store.get_access(&opaque_key(token), now).await? {
                    Some(record) => record.claims,
                    None => return Ok(None),
                }
            }
        };
        if claims.exp <= now.timestamp() || claims.nbf > now.timestamp() {
            return Ok(None);
        }
        if self
            .store
            .is_access_revoked(&jti_key(&claims.jti), now)
            .await?
        {
            return Ok(None);
        }
        let Ok(session) = claims.sid.parse().map(SessionId) else {
            return Ok(None);
        };
        if self.store.is_session_revoked(session, now).await? {
            return Ok(None);
        }
        // Only user tokens carry a name; only user tokens can be superseded by a login.
        if claims.name.is_some() {
            let subject = Subject {
                user: Some(UserId::new(claims.sub.as_str())),
                client: ClientId::new(claims.client_id.as_str()),
            };
            if let Some(marker) = self.store.not_before(&subject).await?
                && marker.session != session
                && claims.iat <= marker.at.timestamp()
            {
                return Ok(None);
            }
        }
        Ok(Some(ActiveToken {
            kind: TokenKind::Access,
            client_id: Some(claims.client_id),
            sub: claims.sub,
            username: claims.name,
            role: claims.role,
            scope: claims.scope,
            exp: claims.exp,
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            jti: Some(claims.jti),
            iss: Some(claims.iss),
            aud: claims.aud,
            sid: Some(claims.sid),
        }))
    }

    /// What a valid ticket says, unless the ticket itself was revoked (by its own text: it
    /// has no id).
    async fn active_ticket(
        &self,
        kind: TokenKind,
        katana: &katana::Katana,
        token: &str,
        ticket: &katana::Ticket,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        if self
            .store
            .is_access_revoked(&opaque_key(token), now)
            .await?
        {
            return Ok(None);
        }
        let identity = &ticket.identity;
        let id = identity.first(katana::ticket::NAME_IDENTIFIER_CLAIM_TYPE);
        let name = identity.name();
        let Some(sub) = id.or(name) else {
            return Ok(None);
        };
        Ok(Some(ActiveToken {
            kind,
            client_id: katana.client_of(ticket).map(str::to_owned),
            sub: sub.to_owned(),
            username: name.map(str::to_owned),
            role: identity.first(&identity.role_claim_type).map(str::to_owned),
            scope: None,
            exp: expires.timestamp(),
            iat: ticket.issued().map(|at| at.timestamp()),
            nbf: None,
            jti: None,
            iss: None,
            aud: None,
            sid: None,
        }))
    }

    /// A live refresh token whose session is neither revoked nor superseded.
    async fn live_refresh(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        // Introspection serves no route: the token may be of any route's group. Groups are
        // few (one per route that issues refresh tokens), and a token is live in one at most.
        let token = RefreshToken::new(token);
        let mut found = None;
        for group in &self.refresh_groups {
            if let Some(record) = self.store.peek_refresh(&group.key(&token), now).await? {
                found = Some(record);
                break;
            }
        }
        let Some(record) = found else {
            return Ok(None);
        };
        let revoked = self.store.is_session_revoked(record.session, now).await?;
        if revoked || self.superseded(&record).await? {
            return Ok(None);
        }
        Ok(Some(record))
    }

    async fn active_refresh(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        let Some(record) = self.live_refresh(token, now).await? else {
            return self.active_refresh_ticket(token, now).await;
        };
        // The name and role are extras of the answer: a directory that cannot answer leaves
        // them out rather than failing the introspection.
        let user = match &record.user {
            Some(id) => match self.users.by_id(id).await {
                Ok(user) => user,
                Err(e) => {
                    tracing::warn!(error = %e, "introspection: the user directory did not answer; username and role left out");
                    None
                }
            },
            None => None,
        };
        Ok(Some(ActiveToken {
            kind: TokenKind::Refresh,
            client_id: Some(record.client.to_string()),
            sub: record
                .user
                .as_ref()
                .map_or_else(|| record.client.to_string(), |u| u.to_string()),
            username: user.as_ref().map(|u| u.username.to_string()),
            role: user
                .as_ref()
                .and_then(|u| u.role.as_ref().map(|r| r.to_string())),
            scope: record.scope.as_ref().map(|s| s.to_string()),
            exp: record.expires_at.timestamp(),
            iat: None,
            nbf: None,
            jti: None,
            iss: None,
            aud: None,
            sid: Some(record.session.to_string()),
        }))
    }

    /// A legacy refresh ticket (`[katana] refresh_purposes`), read as the legacy server's
    /// refresh grant would have taken it.
    async fn active_refresh_ticket(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ActiveToken>, StoreError> {
        match self
            .katanas
            .iter()
            .find_map(|k| Some((k, k.refresh_format.read_live(token, now)?)))
        {
            Some((katana, (ticket, expires))) => {
                self.active_ticket(TokenKind::Refresh, katana, token, &ticket, expires, now)
                    .await
            }
            None => Ok(None),
        }
    }

    /// Revokes a token for `caller` (RFC 7009). Unknown or already inactive tokens are not an
    /// error. Revoking a refresh token ends its whole session, access tokens included. A caller
    /// may revoke only tokens issued to it, unless `privileged` (a resource server allowed to
    /// introspect every token).
    pub async fn revoke(
        &self,
        token: &str,
        hint: Option<TokenKind>,
        caller: &Client,
        privileged: bool,
    ) -> Result<(), EndpointError> {
        let now = self.clock.now();
        let owned = |client_id: Option<&str>| privileged || client_id == Some(caller.id.as_str());
        let refresh_first = hint == Some(TokenKind::Refresh);
        if refresh_first && self.revoke_refresh(token, now, &owned).await? {
            return Ok(());
        }
        // Access tokens, and the tickets (access or refresh) of the legacy server, which belong
        // to no session: each is marked revoked by itself.
        let marked = match self.active_access(token, now).await? {
            Some(active) => Some(active),
            None => self.active_refresh_ticket(token, now).await?,
        };
        if let Some(active) = marked {
            if !owned(active.client_id.as_deref()) {
                return Err(EndpointError::TokenNotOwned);
            }
            let until = DateTime::from_timestamp(active.exp, 0).unwrap_or(now);
            // A ticket has no id: its mark is keyed by its text, as an opaque token's record is.
            let key = match &active.jti {
                Some(jti) => jti_key(jti),
                None => opaque_key(token),
            };
            return self
                .store
                .revoke_access(key, until, now)
                .await
                .map_err(EndpointError::from);
        }
        if !refresh_first {
            self.revoke_refresh(token, now, &owned).await?;
        }
        Ok(())
    }

    /// Ends the session of a live refresh token; `false` when the token is not one.
    async fn revoke_refresh(
        &self,
        token: &str,
        now: DateTime<Utc>,
        owned: &dyn Fn(Option<&str>) -> bool,
    ) -> Result<bool, EndpointError> {
        let Some(record) = self.live_refresh(token, now).await? else {
            return Ok(false);
        };
        if !owned(Some(record.client.as_str())) {
            return Err(EndpointError::TokenNotOwned);
        }
        self.revoke_session(record.session, now).await?;
        Ok(true)
    }
}
