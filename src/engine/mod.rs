//! The credential and token engine: authenticates clients and users, mints access tokens,
//! issues and rotates refresh tokens, and keeps not-before markers. It knows nothing of HTTP or
//! of any dialect; it sees canonical [`GrantRequest`]s and answers [`Grant`]s or [`GrantError`]s.
//! Time, randomness, keys and storage are injected.

pub mod clock;
pub mod directory;
pub mod error;
pub mod hasher;
pub mod introspect;
pub mod katana;
pub mod keys;
pub mod password;
mod refresh;
pub mod scope;
pub mod throttle;
pub mod users;

use std::sync::Arc;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub use clock::{Clock, FixedClock, IdSource, OsIds, SeededIds, SystemClock};
pub use directory::{AttrValue, Attributes, Barred, Client, Directory, Standing, TomlUsers, User};
pub use error::{Fault, GrantError, Param};
pub use introspect::{ActiveToken, EndpointError, TokenKind};
pub use keys::{Key, Keyring};
pub use password::{HashError, HashInput, HashKind, InputSetting, StoredHash};
pub use refresh::RefreshGroup;
pub use scope::{ClientScopes, ScopeConfigError, ScopePolicy};
pub use users::{
    DirectoryStats, DirectoryUnavailable, Found, Lookup, UpgradeTicket, UserDirectory,
};

use crate::domain::{
    AccessRecord, AccessToken, Claims, ClientId, GrantType, NotBefore, PasswordProof,
    RefreshRecord, RefreshToken, Scope, Secret, SessionId, StoreError, Subject, TokenKey,
    TokenStore,
};

/// Whether and where the client identifies itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthVia {
    None,
    Body,
    BasicHeader,
    /// A header of the route's own (`{ header = "X-Client-Id" }` in a profile).
    Header,
}

/// The client's claimed identity, as the dialect found it.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub id: Option<ClientId>,
    pub secret: Option<Secret>,
    pub via: ClientAuthVia,
}

/// What is being asked for, once the dialect has parsed it.
#[derive(Debug, Clone)]
pub enum GrantKind {
    ClientCredentials,
    Password {
        username: String,
        proof: PasswordProof,
    },
    RefreshToken(RefreshToken),
    /// A password grant whose user a trusted proxy authenticated (integrated Windows
    /// authentication): the principal names the user, no password is checked here.
    Windows {
        principal: String,
    },
}

impl GrantKind {
    pub fn grant_type(&self) -> GrantType {
        match self {
            GrantKind::ClientCredentials => GrantType::ClientCredentials,
            GrantKind::Password { .. } | GrantKind::Windows { .. } => GrantType::Password,
            GrantKind::RefreshToken(_) => GrantType::RefreshToken,
        }
    }
}

/// A canonical, dialect-free token request.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub client: ClientAuth,
    /// What the dialect made of the grant parameters. A parameter error is reported only after
    /// client authentication, the order in which Katana-hosted servers checked them.
    pub grant: Result<GrantKind, GrantError>,
    pub scope: Option<Scope>,
    pub peer: std::net::IpAddr,
}

/// How refresh tokens look on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshFormat {
    /// A dashed v4 GUID (122 random bits), as VizSeek's sample shows: for fidelity where the
    /// legacy tokens were GUIDs.
    Guid,
    /// 32 hex digits (`Guid.ToString("N")`, 122 random bits), as the refresh providers written
    /// for the Web API template made.
    Hex32,
    /// 256 random bits, base64url without padding (43 characters): where the legacy format is
    /// not known, a token nobody can guess (RFC 6819 §5.1.4.2.2).
    #[default]
    Random256,
}

/// What access tokens are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessFormat {
    /// A signed JWT that resource servers verify themselves (JWKS for asymmetric keys).
    Jwt,
    /// A random reference (256 bits) that resource servers check by introspection.
    Opaque,
    /// A Katana access ticket protected with the legacy application's machineKey, which its
    /// resource servers' bearer middleware reads as it read the legacy server's (`katana`).
    KatanaTicket,
}

/// The per-route rules a grant is made under. Routes own these; the engine only applies them.
#[derive(Debug, Clone)]
pub struct GrantPolicy {
    /// Grants this route accepts; others are `unsupported_grant_type`.
    pub grants: Vec<GrantType>,
    /// Grants this route recognises but refuses with `unauthorized_client` (the Web API
    /// template's provider does so for `client_credentials`).
    pub refused_grants: Vec<GrantType>,
    /// Whether a missing `client_id` is an error. When not required and absent, the grant is
    /// made for `anonymous_client`.
    pub require_client_id: bool,
    pub anonymous_client: Option<ClientId>,
    pub access_token_ttl: TimeDelta,
    /// `None`: this route issues no refresh tokens.
    pub refresh_token_ttl: Option<TimeDelta>,
    pub refresh_for_client_credentials: bool,
    pub refresh_format: RefreshFormat,
    /// The routes this route's refresh tokens may be redeemed on (see [`RefreshGroup`]).
    pub refresh_group: RefreshGroup,
    /// How long after a refresh token was redeemed the same client may redeem it again and get
    /// the same answer's family (a retry after a lost answer) instead of a revoked session;
    /// `None`: any second redemption is a replay.
    pub reuse_grace: Option<TimeDelta>,
    /// Redeem the legacy server's refresh tickets (`[katana] refresh_purposes`) too.
    pub legacy_refresh_tickets: bool,
    /// The route's own machineKey (its `katana` table); `None`: `[katana]`'s.
    pub katana: Option<Arc<katana::Katana>>,
    pub scope_policy: ScopePolicy,
    /// A new password grant makes the (user, client)'s earlier tokens invalid.
    pub single_active_token: bool,
    /// The dialect shows the subject's not-before marker: look it up for every grant.
    pub report_not_before: bool,
    pub issuer: String,
    pub audience: Option<String>,
    pub access_format: AccessFormat,
    /// The key that signs this route's JWTs; `None`: the keyring's default.
    pub signing_key: Option<String>,
    /// The members of this route's JWT headers, in order.
    pub jwt_header: keys::HeaderLayout,
}

/// A refresh token as issued.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub token: RefreshToken,
    pub expires_at: DateTime<Utc>,
}

/// A successful grant, with everything any dialect shows about it.
#[derive(Debug, Clone)]
pub struct Grant {
    pub grant_type: GrantType,
    pub access_token: AccessToken,
    pub token_type: &'static str,
    /// The clock's reading when the request was handled, at full precision.
    pub requested_at: DateTime<Utc>,
    /// The issue instant with whole seconds (the JWT `iat`, `.issued`).
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub refresh: Option<IssuedRefresh>,
    pub client: Arc<Client>,
    pub user: Option<Arc<User>>,
    pub scope: Option<Scope>,
    pub session: SessionId,
    /// The subject's not-before instant, when a marker is set.
    pub not_before: Option<DateTime<Utc>>,
    pub peer: std::net::IpAddr,
    /// The access token's own id (the JWT `jti`, the key of its revocation mark).
    pub jti: String,
}

/// Everything the engine is built from.
pub struct EngineParts {
    /// The clients (and the `[[user]]` items, which `users` may be).
    pub directory: Directory,
    /// Where users are looked up: `directory.users()`, or a database directory.
    pub users: Arc<dyn UserDirectory>,
    pub store: Arc<dyn TokenStore>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub keys: Keyring,
    /// The longest access-token lifetime of any route: how long a session revocation must be
    /// remembered for the session's access tokens to stay revoked.
    pub max_access_ttl: TimeDelta,
    /// The longest refresh-token lifetime of any route: a session revocation outlives every
    /// refresh token of the family, whichever route issued it.
    pub max_refresh_ttl: TimeDelta,
    /// Every route's refresh group, so introspection and revocation (which serve no route)
    /// find a refresh token whichever route issued it.
    pub refresh_groups: Vec<RefreshGroup>,
    /// How many password hashes may be verified at once, off the async workers.
    pub hash_workers: usize,
    /// How long a verification may wait for a hash thread before it is `Overloaded`.
    pub hash_queue_wait: std::time::Duration,
    pub throttle: throttle::ThrottleSettings,
    /// The legacy machineKey's ticket format (`[katana]`): issues `katana_ticket` access
    /// tokens, and introspection and revocation read tickets with it.
    pub katana: Option<katana::Katana>,
    /// The routes' own machineKeys (a route's `katana` table), which introspection and
    /// revocation read tickets with too, after `[katana]`'s.
    pub route_katanas: Vec<Arc<katana::Katana>>,
}

/// Why an engine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start the password verification threads: {0}")]
    Threads(std::io::Error),
}

/// See the module docs.
pub struct Engine {
    directory: Directory,
    users: Arc<dyn UserDirectory>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    keys: Keyring,
    max_access_ttl: TimeDelta,
    max_refresh_ttl: TimeDelta,
    refresh_groups: Vec<RefreshGroup>,
    /// Shared with the upgrade tasks a sign-in may leave behind.
    hashes: Arc<hasher::HashPool>,
    throttle: throttle::Throttle,
    /// `[katana]`'s machineKey, for the routes without one of their own.
    katana: Option<Arc<katana::Katana>>,
    /// Every machineKey tickets are read with: `[katana]`'s first, then the routes' own.
    katanas: Vec<Arc<katana::Katana>>,
    /// `/metrics`: new sessions (refresh families) stored and refused as the store was full, by
    /// client: who is filling the store.
    sessions: SessionCounters,
}

/// `tokengate_sessions_started_total{client}` and `tokengate_sessions_refused_total{client}`.
pub const SESSIONS_STARTED: &str = "tokengate_sessions_started_total";
pub const SESSIONS_REFUSED: &str = "tokengate_sessions_refused_total";

/// The two session counters of each client, made once per client rather than per sign-in.
/// Clients are registered, so the label's values are bounded by the configuration.
#[derive(Default)]
struct SessionCounters(dashmap::DashMap<ClientId, [metrics::Counter; 2]>);

impl SessionCounters {
    fn counter(&self, client: &ClientId, name: &'static str) -> metrics::Counter {
        let at = usize::from(name == SESSIONS_REFUSED);
        if let Some(counters) = self.0.get(client) {
            return counters[at].clone();
        }
        let counters = [SESSIONS_STARTED, SESSIONS_REFUSED]
            .map(|name| metrics::counter!(name, "client" => client.to_string()));
        let counter = counters[at].clone();
        self.0.insert(client.clone(), counters);
        counter
    }
}

/// The store key of an opaque access token.
fn opaque_key(token: &str) -> TokenKey {
    hashed_key(token)
}

/// The store key of an access token's revocation mark, by its `jti`.
fn jti_key(jti: &str) -> TokenKey {
    hashed_key(jti)
}

fn hashed_key(value: &str) -> TokenKey {
    use sha2::Digest;
    TokenKey(sha2::Sha256::digest(value.as_bytes()).into())
}

impl Engine {
    pub fn new(parts: EngineParts) -> Result<Self, EngineError> {
        let katana = parts.katana.map(Arc::new);
        let katanas = katana.iter().cloned().chain(parts.route_katanas).collect();
        Ok(Self {
            directory: parts.directory,
            users: parts.users,
            store: parts.store,
            clock: parts.clock,
            ids: parts.ids,
            keys: parts.keys,
            max_access_ttl: parts.max_access_ttl,
            max_refresh_ttl: parts.max_refresh_ttl,
            refresh_groups: parts.refresh_groups,
            hashes: Arc::new(
                hasher::HashPool::new(parts.hash_workers, parts.hash_queue_wait)
                    .map_err(EngineError::Threads)?,
            ),
            throttle: throttle::Throttle::new(parts.throttle),
            katana,
            katanas,
            sessions: SessionCounters::default(),
        })
    }

    /// The machineKey a route issues tickets and reads legacy refresh tickets with: its own,
    /// else `[katana]`'s.
    fn katana_for<'a>(&'a self, policy: &'a GrantPolicy) -> Option<&'a katana::Katana> {
        policy.katana.as_deref().or(self.katana.as_deref())
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store backend's name, for `/healthz` and logs.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// How full the store is (`/healthz`, `/readyz`).
    pub async fn store_usage(&self) -> Result<crate::domain::Usage, StoreError> {
        self.store.usage().await
    }

    /// Whether the store can serve requests now.
    pub async fn store_health(&self) -> Result<(), StoreError> {
        self.store.health().await
    }

    /// Where users come from (`/healthz`, `check`).
    pub fn users(&self) -> &Arc<dyn UserDirectory> {
        &self.users
    }

    /// Handles one token request under a route's policy.
    pub async fn grant(
        &self,
        request: GrantRequest,
        policy: &GrantPolicy,
    ) -> Result<Grant, GrantError> {
        let client = self.authenticate_client(&request.client, policy)?;
        let kind = request.grant?;
        let grant_type = kind.grant_type();
        if policy.refused_grants.contains(&grant_type) {
            return Err(GrantError::UnauthorizedClient(grant_type));
        }
        if !policy.grants.contains(&grant_type) {
            return Err(GrantError::UnsupportedGrantType);
        }
        if !client.allows(grant_type) {
            return Err(GrantError::UnauthorizedClient(grant_type));
        }
        let requested_at = self.clock.now();
        // A new session for a new sign-in; a refresh continues its own.
        let user = match kind {
            GrantKind::RefreshToken(token) => {
                let redemption = refresh::Redemption {
                    token: &token,
                    client,
                    scope: request.scope.as_ref(),
                    requested_at,
                    peer: request.peer,
                };
                return self.redeem(redemption, policy).await;
            }
            GrantKind::ClientCredentials => None,
            GrantKind::Password { username, proof } => Some(
                self.authenticate_user(&username, proof, &client, request.peer)
                    .await?,
            ),
            GrantKind::Windows { principal } => {
                // The proxy proved who the user is; the directory still says whether they may
                // sign in (a locked-out account stays out).
                let user = self.users.by_name(&principal).await?;
                Some(
                    user.filter(|user| {
                        user.may_use(&client.id) && user.standing.refusal(requested_at).is_none()
                    })
                    .ok_or(GrantError::AuthenticationFailed)?,
                )
            }
        };
        let scope = client
            .scopes
            .for_sign_in(request.scope.as_ref(), policy.scope_policy)?;
        let wants_refresh = user.is_some() || policy.refresh_for_client_credentials;
        // Drawn in the order a redemption draws them: the session, the access token's, the
        // refresh token.
        let session = self.new_session();
        let mut draws = self.draw(policy);
        let refresh = match policy.refresh_token_ttl {
            Some(_) if wants_refresh => {
                draws.refresh = Some(self.new_refresh_token(policy.refresh_format));
                RefreshPlan::New
            }
            _ => RefreshPlan::None,
        };
        self.issue(IssueInput {
            grant_type,
            client,
            user,
            family_scope: scope.clone(),
            scope,
            session,
            session_started: requested_at,
            requested_at,
            refresh,
            draws,
            peer: request.peer,
            policy,
        })
        .await
    }

    fn authenticate_client(
        &self,
        auth: &ClientAuth,
        policy: &GrantPolicy,
    ) -> Result<Arc<Client>, GrantError> {
        let id = match (&auth.id, &policy.anonymous_client) {
            (Some(id), _) => id,
            (None, Some(anonymous)) if !policy.require_client_id => anonymous,
            (None, _) => return Err(GrantError::MissingClientId),
        };
        let client = self.directory.client(id).ok_or(GrantError::UnknownClient)?;
        client.authenticate(auth.secret.as_ref())?;
        Ok(client)
    }

    async fn authenticate_user(
        &self,
        username: &str,
        proof: PasswordProof,
        client: &Arc<Client>,
        peer: std::net::IpAddr,
    ) -> Result<Arc<User>, GrantError> {
        let now = self.clock.now();
        let counted = self
            .throttle
            .check(&*self.store, username, peer, now)
            .await?;
        match counted.verdict() {
            throttle::Verdict::Proceed => {}
            throttle::Verdict::Refuse { retry_after_secs } => {
                tracing::warn!(%peer, retry_after_secs, "password attempts throttled");
                return Err(GrantError::Throttled { retry_after_secs });
            }
            throttle::Verdict::Delay(delay) => {
                // A tar pit, not a lockout: see `throttle`.
                tracing::info!(
                    %peer,
                    delay_ms = delay.as_millis() as u64,
                    "password attempt delayed: the user name is over its failure limit"
                );
                tokio::time::sleep(delay).await;
            }
        }
        let user = self.users.by_name(username).await?;
        let hash = match &user {
            Some(user) => user.password.clone(),
            // Of the directory's most expensive kind, over random values: an unknown name
            // costs as much as a wrong password, and timing does not reveal which names exist.
            None => self.users.decoy(),
        };
        // Kept only when a success would be followed by an upgrade of the hash.
        let upgrade = user
            .as_ref()
            .and_then(|user| user.upgrade)
            .map(|ticket| (ticket, proof.clone()));
        let verified = self.hashes.verify(hash, proof).await?;
        // A barred user's password is checked all the same (above), so that the refusal
        // costs what any other failure costs.
        let barred = user.as_ref().and_then(|user| user.standing.refusal(now));
        match user {
            Some(user) if verified && barred.is_none() && user.may_use(&client.id) => {
                self.throttle.succeeded(&*self.store, &counted).await?;
                if let Some((ticket, proof)) = upgrade {
                    self.upgrade(&user, ticket, proof);
                }
                Ok(user)
            }
            user => {
                if let (Some(user), Some(barred), true) = (&user, barred, verified) {
                    tracing::info!(user = %user.id, %peer, why = barred.as_str(), "sign-in refused");
                }
                self.throttle.failed(&*self.store, &counted, now).await?;
                Err(GrantError::AuthenticationFailed)
            }
        }
    }

    /// Rehashes a signed-in user's password with argon2id on the hash threads, after the
    /// answer and only when no verification is waiting, and has the directory record it. A
    /// failure is logged; the next sign-in tries again.
    fn upgrade(&self, user: &Arc<User>, ticket: UpgradeTicket, proof: PasswordProof) {
        let (users, hashes, id) = (self.users.clone(), self.hashes.clone(), user.id.clone());
        tokio::spawn(async move {
            let hash = match hashes.upgrade(proof).await {
                Ok(Some(hash)) => hash,
                // Verifications were waiting: this one is left to a later sign-in.
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(user = %id, error = %e, "password hash upgrade failed");
                    return;
                }
            };
            match users.save_upgrade(&id, ticket, hash).await {
                Ok(()) => tracing::info!(user = %id, "password hash upgraded to argon2id"),
                Err(e) => {
                    tracing::warn!(user = %id, error = %e, "password hash upgrade not recorded")
                }
            }
        });
    }

    fn new_session(&self) -> SessionId {
        SessionId(self.ids.uuid())
    }

    /// The access token's ids: its `jti`, then its reference when the route's tokens are
    /// opaque.
    fn draw(&self, policy: &GrantPolicy) -> Draws {
        let jti = self.ids.uuid().hyphenated().to_string();
        let opaque = match policy.access_format {
            AccessFormat::Opaque => Some(self.random_256()),
            AccessFormat::Jwt | AccessFormat::KatanaTicket => None,
        };
        Draws {
            jti,
            opaque,
            refresh: None,
        }
    }

    /// A new refresh token, drawn after the access token's ids.
    fn new_refresh_token(&self, format: RefreshFormat) -> RefreshToken {
        match format {
            RefreshFormat::Guid => RefreshToken::new(self.ids.uuid().hyphenated().to_string()),
            RefreshFormat::Hex32 => RefreshToken::new(self.ids.uuid().simple().to_string()),
            RefreshFormat::Random256 => RefreshToken::new(self.random_256()),
        }
    }

    /// 256 random bits, base64url: opaque access tokens and `random256` refresh tokens.
    fn random_256(&self) -> String {
        let mut bytes = [0u8; 32];
        self.ids.fill(&mut bytes);
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    async fn issue(&self, input: IssueInput<'_>) -> Result<Grant, GrantError> {
        let IssueInput {
            grant_type,
            client,
            user,
            scope,
            family_scope,
            session,
            session_started,
            requested_at,
            refresh,
            draws,
            peer,
            policy,
        } = input;
        let issued_at = whole_second(requested_at)?;
        let expires_at = issued_at + policy.access_token_ttl;
        let subject = Subject {
            user: user.as_ref().map(|u| u.id.clone()),
            client: client.id.clone(),
        };
        let not_before = if policy.single_active_token && grant_type == GrantType::Password {
            // The marker is the full-precision instant: a login earlier in the same second is
            // still earlier.
            let marker = NotBefore {
                at: requested_at,
                session,
            };
            self.store.set_not_before(&subject, marker).await?;
            Some(marker.at)
        } else if (policy.single_active_token || policy.report_not_before) && user.is_some() {
            // Only a password grant sets a marker, so an app token has none to look up, and
            // client_credentials keeps working while the store is down.
            self.store
                .not_before(&subject)
                .await?
                .map(|marker| marker.at)
        } else {
            None
        };
        let claims = Claims {
            iss: policy.issuer.clone(),
            sub: match &user {
                Some(user) => user.id.to_string(),
                None => client.id.to_string(),
            },
            aud: policy.audience.clone(),
            iat: issued_at.timestamp(),
            nbf: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            jti: draws.jti,
            client_id: client.id.to_string(),
            scope: scope.as_ref().map(|s| s.to_string()),
            sid: session.to_string(),
            name: user.as_ref().map(|u| u.username.to_string()),
            role: user
                .as_ref()
                .and_then(|u| u.role.as_ref().map(|r| r.to_string())),
        };
        let (access_token, jti) = match policy.access_format {
            AccessFormat::Jwt => {
                let token = self
                    .keys
                    .sign(policy.signing_key.as_deref(), policy.jwt_header, &claims)
                    .map_err(Fault::Signing)?;
                (AccessToken::new(token), claims.jti)
            }
            AccessFormat::Opaque => {
                let token = match draws.opaque {
                    Some(token) => token,
                    // `draw` drew one for this policy's format; drawn here only if it did not.
                    None => self.random_256(),
                };
                let jti = claims.jti.clone();
                self.store
                    .insert_access(opaque_key(&token), AccessRecord { claims }, requested_at)
                    .await?;
                (AccessToken::new(token), jti)
            }
            AccessFormat::KatanaTicket => {
                let katana = self.katana_for(policy).ok_or(Fault::NoKatanaKey)?;
                let extra = katana::Extra {
                    claims: match &user {
                        Some(user) => katana
                            .attribute_claims
                            .iter()
                            .filter_map(|(claim_type, attribute)| {
                                let value = user.attributes.get(attribute)?;
                                Some((claim_type.as_str(), value.claim_text()))
                            })
                            .collect(),
                        None => Vec::new(),
                    },
                    client: katana
                        .client_property
                        .as_deref()
                        .map(|property| (property, client.id.as_str())),
                };
                let ticket = katana::access_ticket(
                    &katana::TicketUser {
                        id: &claims.sub,
                        name: claims.name.as_deref().unwrap_or(&claims.sub),
                        role: claims.role.as_deref(),
                    },
                    &extra,
                    issued_at,
                    expires_at,
                );
                // The IV is drawn now, after every id of `Draws`.
                (
                    AccessToken::new(katana.format.protect(&ticket, &*self.ids)),
                    claims.jti,
                )
            }
        };
        let refresh = match (policy.refresh_token_ttl, refresh, draws.refresh) {
            (_, RefreshPlan::Existing(issued), _) => Some(issued),
            (Some(ttl), RefreshPlan::New, Some(token)) => {
                let expires_at = issued_at + ttl;
                // The family keeps the scope of its sign-in; a narrowed refresh narrows only
                // its access token (RFC 6749 §6).
                let record = RefreshRecord {
                    session,
                    client: client.id.clone(),
                    user: subject.user.clone(),
                    scope: family_scope,
                    session_started,
                    expires_at,
                    stamp: user.as_ref().and_then(|user| user.stamp),
                };
                let key = policy.refresh_group.key(&token);
                match self.store.insert_refresh(key, record, requested_at).await {
                    Ok(()) => self
                        .sessions
                        .counter(&client.id, SESSIONS_STARTED)
                        .increment(1),
                    Err(e) => {
                        if let StoreError::Full(max) = e {
                            // Who is filling the store: the client whose sign-ins it refuses.
                            tracing::warn!(
                                client = %client.id,
                                max_entries = max,
                                "store full: a new session of this client was refused"
                            );
                            self.sessions
                                .counter(&client.id, SESSIONS_REFUSED)
                                .increment(1);
                        }
                        return Err(e.into());
                    }
                }
                Some(IssuedRefresh { token, expires_at })
            }
            _ => None,
        };
        Ok(Grant {
            grant_type,
            access_token,
            token_type: "bearer",
            requested_at,
            issued_at,
            expires_at,
            refresh,
            client,
            user,
            scope,
            session,
            not_before,
            peer,
            jti,
        })
    }
}

struct IssueInput<'a> {
    grant_type: GrantType,
    client: Arc<Client>,
    user: Option<Arc<User>>,
    /// The access token's scope.
    scope: Option<Scope>,
    /// The refresh family's scope (the sign-in's), kept in a new refresh token's record.
    family_scope: Option<Scope>,
    session: SessionId,
    session_started: DateTime<Utc>,
    requested_at: DateTime<Utc>,
    refresh: RefreshPlan,
    draws: Draws,
    peer: std::net::IpAddr,
    policy: &'a GrantPolicy,
}

/// Whether an answer carries a refresh token, and which.
enum RefreshPlan {
    None,
    /// A sign-in's new token ([`Draws::refresh`]), stored by [`Engine::issue`].
    New,
    /// A token already stored: a rotation's new token, or on a retry within the reuse grace
    /// the one the first redemption issued.
    Existing(IssuedRefresh),
}

/// The random ids an answer carries. A redemption draws them before its store call (the
/// store must have the new refresh token in the same step as it uses the old one up); they
/// are drawn in one order everywhere: the `jti`, the opaque reference, the refresh token. A
/// Katana ticket's IV is drawn last, when the ticket is protected.
struct Draws {
    jti: String,
    opaque: Option<String>,
    /// A sign-in's new refresh token.
    refresh: Option<RefreshToken>,
}

/// The issue instant with whole seconds (the JWT `iat`).
fn whole_second(at: DateTime<Utc>) -> Result<DateTime<Utc>, Fault> {
    at.duration_trunc(TimeDelta::seconds(1))
        .map_err(Fault::Clock)
}
