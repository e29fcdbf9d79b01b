//! Redeeming refresh tokens: rotation (the old token used and its successor stored in one
//! store operation, so a failure or a timeout never leaves a used token without a successor),
//! replay detection (a second redemption revokes the whole family), the retry grace window,
//! and the binding of a token to the routes that may redeem it. See docs/tokens.md for the
//! rules as users read them.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    Client, Draws, Engine, Grant, GrantError, GrantPolicy, IssueInput, IssuedRefresh, RefreshPlan,
    katana, opaque_key,
};
use crate::domain::{
    GrantType, RefreshRecord, RefreshToken, Rotation, Scope, SealedToken, SessionId, StampDigest,
    StoreError, Subject, Taken, TokenKey, UserId,
};

/// The routes a refresh token may be redeemed on: a route's `refresh_group`, by default its
/// own path. A token's store key is made from the group's name and the token, so on a route
/// of another group the token is simply unknown: it is refused there without being used up,
/// and a thief cannot carry a family to a route with a longer refresh lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGroup(Arc<str>);

impl RefreshGroup {
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self(name.into())
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The store key of a token of this group: SHA-256 over the group's name (length first, so
    /// no name is a prefix of another's message) and the token.
    pub fn key(&self, token: &RefreshToken) -> TokenKey {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update((self.0.len() as u64).to_be_bytes());
        hash.update(self.0.as_bytes());
        hash.update(token.expose().as_bytes());
        TokenKey(hash.finalize().into())
    }
}

/// A refresh-token grant, once the client is authenticated.
pub(super) struct Redemption<'a> {
    pub token: &'a RefreshToken,
    pub client: Arc<Client>,
    /// The scope the request names, if any: it may narrow the family's.
    pub scope: Option<&'a Scope>,
    pub requested_at: DateTime<Utc>,
    pub peer: std::net::IpAddr,
}

/// The most bytes a successor may have: every refresh format is at most 43.
const MAX_SEALED: usize = 64;

/// The pad a successor is sealed with: SHA-256 of the parent token under a short label, one
/// 32-byte block per counter value, so each block hashes in one compression (label, counter
/// and a 43-byte token fit one 64-byte block) on the SHA extensions most CPUs have. Each parent
/// seals at most one successor, so the pad is used once.
fn pad(parent: &RefreshToken, len: usize) -> [u8; MAX_SEALED] {
    use sha2::Digest;
    let mut pad = [0u8; MAX_SEALED];
    for (counter, block) in (0u8..).zip(pad.chunks_mut(32)).take(len.div_ceil(32)) {
        let mut hash = sha2::Sha256::new();
        hash.update([b't', b'g', b's', counter]);
        hash.update(parent.expose().as_bytes());
        block.copy_from_slice(&hash.finalize());
    }
    pad
}

/// Seals `child` for the store (see [`SealedToken`]); `None` for a token longer than
/// [`MAX_SEALED`] (none today), whose parent then keeps no successor: a retry of it is a
/// replay.
pub(super) fn seal(parent: &RefreshToken, child: &RefreshToken) -> Option<SealedToken> {
    let child = child.expose().as_bytes();
    if child.len() > MAX_SEALED {
        return None;
    }
    let pad = pad(parent, child.len());
    Some(SealedToken(
        child.iter().zip(pad).map(|(b, p)| b ^ p).collect(),
    ))
}

fn unseal(parent: &RefreshToken, sealed: &SealedToken) -> Option<RefreshToken> {
    if sealed.0.is_empty() || sealed.0.len() > MAX_SEALED {
        return None;
    }
    let pad = pad(parent, sealed.0.len());
    let bytes: Vec<u8> = sealed.0.iter().zip(pad).map(|(b, p)| b ^ p).collect();
    String::from_utf8(bytes).ok().map(RefreshToken::new)
}

/// Whether the user's security stamp is not the one the family began with. A family that
/// recorded none (a directory without stamps, or a token stored before stamps were kept) has
/// nothing to compare: it goes on as before.
fn stamp_changed(record: &RefreshRecord, user: &super::User) -> bool {
    record.stamp.is_some() && record.stamp != user.stamp
}

impl Engine {
    /// Redeems a refresh token: the new token is drawn first, so that the store can use the
    /// old one up and store the new one in one step ([`TokenStore::rotate_refresh`]); the
    /// answer's ids are drawn with it, in the order a sign-in draws them.
    ///
    /// [`TokenStore::rotate_refresh`]: crate::domain::TokenStore::rotate_refresh
    pub(super) async fn redeem(
        &self,
        r: Redemption<'_>,
        policy: &GrantPolicy,
    ) -> Result<Grant, GrantError> {
        // Longer than any refresh token of the gateway's: a legacy ticket, or nothing.
        if policy.legacy_refresh_tickets && r.token.expose().len() > MAX_SEALED {
            return self.redeem_ticket(r, policy).await;
        }
        // A route that issues no refresh tokens cannot continue a family; the token, if it is
        // one of a group this route shares, is left as it is.
        let Some(ttl) = policy.refresh_token_ttl else {
            return Err(GrantError::InvalidRefreshToken);
        };
        let issued_at = super::whole_second(r.requested_at)?;
        let draws = self.draw(policy);
        let child = self.new_refresh_token(policy.refresh_format);
        let expires_at = issued_at + ttl;
        let rotation = Rotation {
            key: policy.refresh_group.key(&child),
            expires_at,
            successor: policy.reuse_grace.and_then(|_| seal(r.token, &child)),
        };
        let key = policy.refresh_group.key(r.token);
        let taken = match self
            .store
            .rotate_refresh(&key, rotation, r.requested_at)
            .await
        {
            Ok(taken) => taken,
            // Full: nothing was stored, the old token is still live and its retry will succeed.
            // Unavailable: a stalled store may still run the whole rotation, and the retry then
            // gets its successor within the grace.
            Err(error) => return Err(error.into()),
        };
        let record = match taken {
            Taken::Live(record) => record,
            Taken::AlreadyUsed {
                session,
                used_at,
                successor,
            } => {
                if let Some(grace) = policy.reuse_grace
                    && r.requested_at - used_at <= grace
                    && let Some(successor) = successor
                {
                    return self.retry(r, session, successor, draws, policy).await;
                }
                self.revoke_session(session, r.requested_at).await?;
                tracing::warn!(session = %session, "refresh token replayed; session revoked");
                return Err(GrantError::RefreshTokenReused);
            }
            // The rotation checked the session's revocation atomically (see `Taken`).
            Taken::SessionRevoked { .. } | Taken::Unknown => {
                return Err(GrantError::InvalidRefreshToken);
            }
        };
        self.check_holder(&record, &r.client, r.requested_at)
            .await?;
        let issued = IssuedRefresh {
            token: child,
            expires_at,
        };
        self.continue_family(r, record, RefreshPlan::Existing(issued), draws, policy)
            .await
    }

    /// A refresh ticket the legacy server issued (a `RefreshTokenProvider` that serialized
    /// the ticket, under `[katana] refresh_purposes`), redeemed as its refresh grant did: while
    /// unexpired, by any client unless the ticket names one, for as often as it is presented
    /// (the legacy server kept no state of it; each redemption opens a family of the
    /// gateway's). The gateway adds what it can check without that state: a ticket revoked at
    /// the revocation endpoint, a user gone from the directory or whose security stamp changed
    /// since, or a later login on a single-active-token route, ends it.
    async fn redeem_ticket(
        &self,
        r: Redemption<'_>,
        policy: &GrantPolicy,
    ) -> Result<Grant, GrantError> {
        let now = r.requested_at;
        let text = r.token.expose();
        let Some(katana) = self.katana_for(policy) else {
            return Err(GrantError::InvalidRefreshToken);
        };
        let Some((ticket, expires)) = katana.refresh_format.read_live(text, now) else {
            tracing::info!("refresh: not a live refresh ticket of the legacy machineKey");
            return Err(GrantError::InvalidRefreshToken);
        };
        if self.store.is_access_revoked(&opaque_key(text), now).await? {
            return Err(GrantError::InvalidRefreshToken);
        }
        if let Some(owner) = katana.client_of(&ticket)
            && owner != r.client.id.as_str()
        {
            tracing::warn!(client = %r.client.id, "refresh: a legacy refresh ticket of another client");
            return Err(GrantError::InvalidRefreshToken);
        }
        let Some(named) = ticket.user() else {
            return Err(GrantError::InvalidRefreshToken);
        };
        let user = self
            .users
            .by_id(&UserId::new(named.id))
            .await?
            .ok_or(GrantError::InvalidRefreshToken)?;
        // The stamp the ticket was issued under, where both it and the directory have one: a
        // change since ends the ticket as it ends a family.
        let stamp = match (
            ticket
                .identity
                .first(katana::ticket::SECURITY_STAMP_CLAIM_TYPE),
            user.stamp,
        ) {
            (Some(claim), Some(_)) => Some(StampDigest::of(claim)),
            _ => user.stamp,
        };
        let record = RefreshRecord {
            session: self.new_session(),
            client: r.client.id.clone(),
            user: Some(user.id.clone()),
            scope: None,
            session_started: ticket.issued().unwrap_or(now),
            expires_at: expires,
            stamp,
        };
        if self.superseded(&record).await? {
            return Err(GrantError::InvalidRefreshToken);
        }
        let mut draws = self.draw(policy);
        let plan = match policy.refresh_token_ttl {
            Some(_) => {
                draws.refresh = Some(self.new_refresh_token(policy.refresh_format));
                RefreshPlan::New
            }
            None => RefreshPlan::None,
        };
        self.continue_family(r, record, plan, draws, policy).await
    }

    /// A second redemption within the reuse grace: answered with a new access token and the
    /// refresh token the first redemption issued, so the family goes on with one rotation. The
    /// first redemption stored that token in the same step as it used the parent, so it is
    /// always there to be found: used (then the family goes on elsewhere, and this is a
    /// replay) or live.
    async fn retry(
        &self,
        r: Redemption<'_>,
        session: SessionId,
        successor: SealedToken,
        draws: Draws,
        policy: &GrantPolicy,
    ) -> Result<Grant, GrantError> {
        let now = r.requested_at;
        let found = match unseal(r.token, &successor) {
            Some(child) => {
                let child_key = policy.refresh_group.key(&child);
                self.store
                    .peek_refresh(&child_key, now)
                    .await?
                    .map(|record| (child, record))
            }
            None => None,
        };
        // A successor continues its parent's session; one of another session is not ours.
        let found = found.filter(|(_, record)| record.session == session);
        let Some((child, record)) = found else {
            // The successor is used (or gone): whoever continued the family is not the one
            // asking again for its parent.
            self.revoke_session(session, now).await?;
            tracing::warn!(session = %session, "refresh token replayed after its successor was used; session revoked");
            return Err(GrantError::RefreshTokenReused);
        };
        self.check_holder(&record, &r.client, now).await?;
        if self.store.is_session_revoked(record.session, now).await? {
            return Err(GrantError::InvalidRefreshToken);
        }
        tracing::info!(session = %session, "refresh token redeemed again within the reuse grace; answered with its successor");
        // The answer carries the stored successor; the token drawn for a new one goes unused.
        let issued = IssuedRefresh {
            token: child,
            expires_at: record.expires_at,
        };
        self.continue_family(r, record, RefreshPlan::Existing(issued), draws, policy)
            .await
    }

    /// Answers a redemption in the family of `record`: the family's scope or the part the
    /// request names, a new access token, and the refresh token `plan` says.
    async fn continue_family(
        &self,
        r: Redemption<'_>,
        record: RefreshRecord,
        plan: RefreshPlan,
        draws: Draws,
        policy: &GrantPolicy,
    ) -> Result<Grant, GrantError> {
        let scope =
            r.client
                .scopes
                .for_refresh(r.scope, record.scope.as_ref(), policy.scope_policy)?;
        let user = self.family_user(&record).await?;
        if let Some(user) = &user
            && stamp_changed(&record, user)
        {
            // The legacy application's "sign out everywhere": the family ends, its access
            // tokens with it at introspection.
            self.revoke_session(record.session, r.requested_at).await?;
            tracing::warn!(session = %record.session, user = %user.id, "security stamp changed since sign-in; session revoked");
            return Err(GrantError::InvalidRefreshToken);
        }
        self.issue(IssueInput {
            grant_type: GrantType::RefreshToken,
            client: r.client,
            user,
            scope,
            family_scope: record.scope,
            session: record.session,
            session_started: record.session_started,
            requested_at: r.requested_at,
            refresh: plan,
            draws,
            peer: r.peer,
            policy,
        })
        .await
    }

    /// The token belongs to the client presenting it and to a session no later login
    /// superseded; another client's token is treated as stolen and its family revoked.
    async fn check_holder(
        &self,
        record: &RefreshRecord,
        client: &Client,
        now: DateTime<Utc>,
    ) -> Result<(), GrantError> {
        if record.client != client.id {
            self.revoke_session(record.session, now).await?;
            return Err(GrantError::InvalidRefreshToken);
        }
        if self.superseded(record).await? {
            return Err(GrantError::InvalidRefreshToken);
        }
        Ok(())
    }

    /// The user of a family, by id. A database directory answers from its cache while the
    /// database is down (within its stale bound), so refresh grants outlast an outage; a user
    /// no longer in the directory ends the family's use.
    async fn family_user(
        &self,
        record: &RefreshRecord,
    ) -> Result<Option<Arc<super::User>>, GrantError> {
        match &record.user {
            Some(id) => Ok(Some(
                self.users
                    .by_id(id)
                    .await?
                    .ok_or(GrantError::InvalidRefreshToken)?,
            )),
            None => Ok(None),
        }
    }

    /// Whether a later login of the same user and client superseded this refresh token's
    /// session (the single-active-token marker).
    pub(super) async fn superseded(&self, record: &RefreshRecord) -> Result<bool, StoreError> {
        let subject = Subject {
            user: record.user.clone(),
            client: record.client.clone(),
        };
        let marker = self.store.not_before(&subject).await?;
        Ok(marker.is_some_and(|marker| {
            marker.session != record.session && record.session_started < marker.at
        }))
    }

    /// Revokes a family for as long as any of its tokens can live: a refresh token issued by
    /// any route (the longest refresh lifetime of all), an access token of any route.
    pub(super) async fn revoke_session(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let until = now + self.max_refresh_ttl.max(self.max_access_ttl);
        self.store.revoke_session(session, until, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_opens_only_with_its_parent() {
        let parent = RefreshToken::new("5b0d4a41-0c2b-4c56-9bd4-4a2d0f0b9a11");
        let child = RefreshToken::new("3Yk0m2v7kQyq0iW8V1a2b3c4d5e6f7g8h9i0j1k2l3m");
        let sealed = seal(&parent, &child).expect("fits");
        assert_ne!(sealed.0, child.expose().as_bytes());
        assert_eq!(
            unseal(&parent, &sealed).map(|t| t.expose().to_owned()),
            Some(child.expose().to_owned())
        );
        let other = RefreshToken::new("5b0d4a41-0c2b-4c56-9bd4-4a2d0f0b9a12");
        assert_ne!(
            unseal(&other, &sealed).map(|t| t.expose().to_owned()),
            Some(child.expose().to_owned())
        );
    }

    #[test]
    fn groups_key_one_token_apart() {
        let token = RefreshToken::new("t");
        let a = RefreshGroup::new("/api/Token");
        let b = RefreshGroup::new("/Token");
        assert_ne!(a.key(&token), b.key(&token));
        assert_eq!(a.key(&token), RefreshGroup::new("/api/Token").key(&token));
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            RefreshGroup::new("ab").key(&RefreshToken::new("c")),
            RefreshGroup::new("a").key(&RefreshToken::new("bc"))
        );
    }
}
