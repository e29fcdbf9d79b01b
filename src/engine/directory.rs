//! The registered clients and the `[[user]]` items, immutable once built: lookups on the
//! request path take no lock. User names match case-insensitively, as ASP.NET Identity
//! normalises them. [`TomlUsers`] is the [`UserDirectory`] of the TOML; a database directory
//! (`crate::directory`) hands out the same [`User`]s.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::error::GrantError;
use super::password::StoredHash;
use super::scope::ClientScopes;
pub use super::users::{AttrValue, Attributes, Barred, Standing, User};
use super::users::{DirectoryStats, DirectoryUnavailable, Lookup, UpgradeTicket, UserDirectory};
use crate::domain::{ClientId, GrantType, Secret, UserId};

/// A registered client.
#[derive(Debug)]
pub struct Client {
    pub id: ClientId,
    /// `Some` for a confidential client, which must present it.
    pub secret: Option<Secret>,
    /// Grants this client may use; empty means every grant its route accepts.
    pub grants: Vec<GrantType>,
    /// The scopes it may be granted, and those it gets when it names none.
    pub scopes: ClientScopes,
    pub attributes: Attributes,
}

impl Client {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.is_empty() || self.grants.contains(&grant)
    }

    /// A confidential client must present its secret; a public client's (often empty, as
    /// OAuth libraries send in Basic) secret is ignored.
    pub fn authenticate(&self, presented: Option<&Secret>) -> Result<(), GrantError> {
        match (&self.secret, presented) {
            (None, _) => Ok(()),
            (Some(expected), Some(presented)) if expected.ct_eq(presented) => Ok(()),
            (Some(_), _) => Err(GrantError::InvalidClientSecret),
        }
    }
}

/// Why a directory cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("client id {0:?} is registered twice")]
    DuplicateClient(String),
    #[error("user name {0:?} is registered twice (names compare case-insensitively)")]
    DuplicateUsername(String),
    #[error("user id {0:?} is registered twice")]
    DuplicateUserId(String),
}

/// See the module docs.
#[derive(Debug)]
pub struct Directory {
    clients: HashMap<ClientId, Arc<Client>>,
    users: Arc<TomlUsers>,
}

/// The `[[user]]` items, by lower-cased name and by id.
#[derive(Debug)]
pub struct TomlUsers {
    by_name: HashMap<String, Arc<User>>,
    by_id: HashMap<UserId, Arc<User>>,
    /// What an unknown user's password is verified against (see [`Directory::decoy_hash`]).
    decoy: StoredHash,
}

impl Directory {
    pub fn new(clients: Vec<Client>, users: Vec<User>) -> Result<Self, DirectoryError> {
        // The most expensive hash configured: an unknown name then costs at least what any
        // known one does. With several kinds, a known user's time still tells their kind (as
        // it would on the legacy server); an unknown name looks like the slowest users.
        let decoy = users
            .iter()
            .max_by_key(|user| user.password.estimated_cost_us())
            .map_or_else(StoredHash::default_decoy, |user| user.password.decoy());
        let mut by_client = HashMap::new();
        for client in clients {
            let id = client.id.clone();
            if by_client.insert(id.clone(), Arc::new(client)).is_some() {
                return Err(DirectoryError::DuplicateClient(id.to_string()));
            }
        }
        let mut toml = TomlUsers {
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            decoy,
        };
        for user in users {
            let user = Arc::new(user);
            let name = user.username.as_str().to_lowercase();
            if toml.by_name.insert(name.clone(), user.clone()).is_some() {
                return Err(DirectoryError::DuplicateUsername(name));
            }
            if toml.by_id.insert(user.id.clone(), user.clone()).is_some() {
                return Err(DirectoryError::DuplicateUserId(user.id.to_string()));
            }
        }
        Ok(Directory {
            clients: by_client,
            users: Arc::new(toml),
        })
    }

    pub fn client(&self, id: &ClientId) -> Option<Arc<Client>> {
        self.clients.get(id).cloned()
    }

    pub fn user(&self, username: &str) -> Option<Arc<User>> {
        self.users.user(username)
    }

    pub fn user_by_id(&self, id: &UserId) -> Option<Arc<User>> {
        self.users.by_id.get(id).cloned()
    }

    /// A hash of the directory's most expensive configured kind and parameters over random
    /// values: verified when the user is unknown, so that an unknown name costs what a known
    /// one does and timing does not reveal which names exist.
    pub fn decoy_hash(&self) -> StoredHash {
        self.users.decoy.clone()
    }

    /// The `[[user]]` items as a [`UserDirectory`].
    pub fn users(&self) -> Arc<TomlUsers> {
        self.users.clone()
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn user_count(&self) -> usize {
        self.users.by_name.len()
    }
}

impl TomlUsers {
    fn user(&self, username: &str) -> Option<Arc<User>> {
        self.by_name.get(&username.to_lowercase()).cloned()
    }
}

/// Every answer is ready: a map lookup, as before there was a trait.
#[async_trait]
impl UserDirectory for TomlUsers {
    fn kind(&self) -> &'static str {
        "toml"
    }

    fn by_name<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        Lookup::ready(Ok(self.user(name)))
    }

    fn by_id<'a>(&'a self, id: &'a UserId) -> Lookup<'a> {
        Lookup::ready(Ok(self.by_id.get(id).cloned()))
    }

    fn decoy(&self) -> StoredHash {
        self.decoy.clone()
    }

    async fn health(&self) -> Result<(), DirectoryUnavailable> {
        Ok(())
    }

    async fn save_upgrade(
        &self,
        _user: &UserId,
        _ticket: UpgradeTicket,
        _hash: String,
    ) -> Result<(), DirectoryUnavailable> {
        // The TOML hands out no tickets: its hashes are the operator's to change.
        Err(DirectoryUnavailable::because(
            "the TOML directory does not record upgraded hashes",
        ))
    }

    fn user_count(&self) -> Option<usize> {
        Some(self.by_name.len())
    }

    fn stats(&self) -> DirectoryStats {
        DirectoryStats::default()
    }
}
