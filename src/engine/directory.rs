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
#[derive(Debug)]
pub struct Directory {
    clients: HashMap<ClientId, Arc<Client>>,
    users_by_name: HashMap<String, Arc<User>>,
    users_by_id: HashMap<UserId, Arc<User>>,
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
        let mut directory = Directory {
            clients: HashMap::new(),
            users_by_name: HashMap::new(),
            users_by_id: HashMap::new(),
            decoy,
        };
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

    /// A hash of the directory's most expensive configured kind and parameters over random
    /// values: verified when the user is unknown, so that an unknown name costs what a known
    /// one does and timing does not reveal which names exist.
    pub fn decoy_hash(&self) -> StoredHash {
        self.decoy.clone()
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn user_count(&self) -> usize {
        self.users_by_name.len()
    }
}
