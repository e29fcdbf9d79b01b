//! The registered clients and users, immutable once built: lookups on the request path take no
//! lock. User names match case-insensitively, as ASP.NET Identity normalises them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::error::GrantError;
use super::password::StoredHash;
use super::scope::ClientScopes;
use crate::domain::{ClientId, GrantType, Role, Secret, UserId, Username};

/// A value of a client or user attribute (`redirect_url`, `is_editor`, ...), shown by dialects
/// that have a field for it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

pub type Attributes = BTreeMap<String, AttrValue>;

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

/// A registered user.
#[derive(Debug)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub role: Option<Role>,
    pub password: StoredHash,
    /// Clients this user may sign in through; empty means any.
    pub clients: Vec<ClientId>,
    pub attributes: Attributes,
}

impl User {
    pub fn may_use(&self, client: &ClientId) -> bool {
        self.clients.is_empty() || self.clients.contains(client)
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
#[derive(Debug, Default)]
pub struct Directory {
    clients: HashMap<ClientId, Arc<Client>>,
    users_by_name: HashMap<String, Arc<User>>,
    users_by_id: HashMap<UserId, Arc<User>>,
}

impl Directory {
    pub fn new(clients: Vec<Client>, users: Vec<User>) -> Result<Self, DirectoryError> {
        let mut directory = Directory::default();
        for client in clients {
            let id = client.id.clone();
            if directory
                .clients
                .insert(id.clone(), Arc::new(client))
                .is_some()
            {
                return Err(DirectoryError::DuplicateClient(id.to_string()));
            }
        }
        for user in users {
            let user = Arc::new(user);
            let name = user.username.as_str().to_lowercase();
            if directory
                .users_by_name
                .insert(name.clone(), user.clone())
                .is_some()
            {
                return Err(DirectoryError::DuplicateUsername(name));
            }
            if directory
                .users_by_id
                .insert(user.id.clone(), user.clone())
                .is_some()
            {
                return Err(DirectoryError::DuplicateUserId(user.id.to_string()));
            }
        }
        Ok(directory)
    }

    pub fn client(&self, id: &ClientId) -> Option<Arc<Client>> {
        self.clients.get(id).cloned()
    }

    pub fn user(&self, username: &str) -> Option<Arc<User>> {
        self.users_by_name.get(&username.to_lowercase()).cloned()
    }

    pub fn user_by_id(&self, id: &UserId) -> Option<Arc<User>> {
        self.users_by_id.get(id).cloned()
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn user_count(&self) -> usize {
        self.users_by_name.len()
    }
}
