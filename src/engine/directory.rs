//! The registered clients and the `[[user]]` items. Lookups on the request path take no lock:
//! the tables are swapped whole when the test kit changes them. User names match case-insensitively, as ASP.NET Identity
//! normalises them. [`TomlUsers`] is the [`UserDirectory`] of the TOML; a database directory
//! (`crate::directory`) hands out the same [`User`]s.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
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
    clients: ArcSwap<Clients>,
    /// The clients as configured, which [`Directory::restore`] goes back to.
    configured: Arc<Clients>,
    users: Arc<TomlUsers>,
}

type Clients = HashMap<ClientId, Arc<Client>>;

/// The `[[user]]` items. The test kit may change them while the gateway runs, so the tables are
/// swapped whole (a lookup loads a pointer and takes no lock).
#[derive(Debug)]
pub struct TomlUsers {
    tables: ArcSwap<UserTables>,
    configured: Arc<UserTables>,
}

/// The users by lower-cased name and by id.
#[derive(Debug, Clone)]
struct UserTables {
    by_name: HashMap<String, Arc<User>>,
    by_id: HashMap<UserId, Arc<User>>,
    /// What an unknown user's password is verified against (see [`Directory::decoy_hash`]).
    decoy: StoredHash,
}

impl UserTables {
    fn insert(&mut self, user: Arc<User>) -> Result<(), DirectoryError> {
        let name = user.username.as_str().to_lowercase();
        if self.by_name.contains_key(&name) {
            return Err(DirectoryError::DuplicateUsername(name));
        }
        if self.by_id.contains_key(&user.id) {
            return Err(DirectoryError::DuplicateUserId(user.id.to_string()));
        }
        self.by_name.insert(name, user.clone());
        self.by_id.insert(user.id.clone(), user);
        Ok(())
    }

    fn remove(&mut self, username: &str) -> Option<Arc<User>> {
        let user = self.by_name.remove(&username.to_lowercase())?;
        self.by_id.remove(&user.id);
        Some(user)
    }
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
        let mut tables = UserTables {
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            decoy,
        };
        for user in users {
            tables.insert(Arc::new(user))?;
        }
        let configured = Arc::new(tables);
        let by_client = Arc::new(by_client);
        Ok(Directory {
            clients: ArcSwap::new(by_client.clone()),
            configured: by_client,
            users: Arc::new(TomlUsers {
                tables: ArcSwap::new(configured.clone()),
                configured,
            }),
        })
    }

    pub fn client(&self, id: &ClientId) -> Option<Arc<Client>> {
        self.clients.load().get(id).cloned()
    }

    pub fn user(&self, username: &str) -> Option<Arc<User>> {
        self.users.user(username)
    }

    pub fn user_by_id(&self, id: &UserId) -> Option<Arc<User>> {
        self.users.tables.load().by_id.get(id).cloned()
    }

    /// A hash of the directory's most expensive configured kind and parameters over random
    /// values: verified when the user is unknown, so that an unknown name costs what a known
    /// one does and timing does not reveal which names exist.
    pub fn decoy_hash(&self) -> StoredHash {
        self.users.tables.load().decoy.clone()
    }

    /// The `[[user]]` items as a [`UserDirectory`].
    pub fn users(&self) -> Arc<TomlUsers> {
        self.users.clone()
    }

    pub fn client_count(&self) -> usize {
        self.clients.load().len()
    }

    pub fn user_count(&self) -> usize {
        self.users.tables.load().by_name.len()
    }

    /// Every client, in id order.
    pub fn clients(&self) -> Vec<Arc<Client>> {
        let mut clients: Vec<_> = self.clients.load().values().cloned().collect();
        clients.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        clients
    }

    /// Adds `client`, or replaces the one with its id (the test kit, for the running process
    /// only); true when it replaced one.
    pub fn put_client(&self, client: Client) -> bool {
        let client = Arc::new(client);
        let mut replaced = false;
        self.clients.rcu(|clients| {
            let mut clients = Clients::clone(clients);
            replaced = clients.insert(client.id.clone(), client.clone()).is_some();
            clients
        });
        replaced
    }

    /// Removes the client `id`; false when there was none.
    pub fn remove_client(&self, id: &ClientId) -> bool {
        let mut removed = false;
        self.clients.rcu(|clients| {
            let mut clients = Clients::clone(clients);
            removed = clients.remove(id).is_some();
            clients
        });
        removed
    }

    /// Back to the clients and users of the configuration.
    pub fn restore(&self) {
        self.clients.store(self.configured.clone());
        self.users.tables.store(self.users.configured.clone());
    }
}

impl TomlUsers {
    fn user(&self, username: &str) -> Option<Arc<User>> {
        self.tables
            .load()
            .by_name
            .get(&username.to_lowercase())
            .cloned()
    }

    /// Every user, in name order.
    pub fn list(&self) -> Vec<Arc<User>> {
        let mut users: Vec<_> = self.tables.load().by_name.values().cloned().collect();
        users.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
        users
    }

    /// Adds `user`, or replaces the one of its name (the test kit, for the running process
    /// only): true when it replaced one. Another user holding its id is an error.
    pub fn put_user(&self, user: User) -> Result<bool, DirectoryError> {
        let user = Arc::new(user);
        let mut outcome = Ok(false);
        self.tables.rcu(|tables| {
            let mut next = UserTables::clone(tables);
            let replaced = next.remove(user.username.as_str()).is_some();
            match next.insert(user.clone()) {
                Ok(()) => {
                    if user.password.estimated_cost_us() > next.decoy.estimated_cost_us() {
                        next.decoy = user.password.decoy();
                    }
                    outcome = Ok(replaced);
                    Arc::new(next)
                }
                Err(error) => {
                    outcome = Err(error);
                    Arc::clone(tables)
                }
            }
        });
        outcome
    }

    /// Removes the user `username`; false when there was none.
    pub fn remove_user(&self, username: &str) -> bool {
        let mut removed = false;
        self.tables.rcu(|tables| {
            let mut tables = UserTables::clone(tables);
            removed = tables.remove(username).is_some();
            tables
        });
        removed
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
        Lookup::ready(Ok(self.tables.load().by_id.get(id).cloned()))
    }

    fn decoy(&self) -> StoredHash {
        self.tables.load().decoy.clone()
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
        Some(self.tables.load().by_name.len())
    }

    fn stats(&self) -> DirectoryStats {
        DirectoryStats::default()
    }
}
