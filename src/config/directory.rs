//! `[directory]`, `[[client]]` and `[[user]]`: who may ask for tokens. Clients come first because
//! users, routes and `[introspection]` name them; the `Directory` itself is built last (see
//! `build`). Users' password hashes are recognised by their form (`engine::password`); what each
//! was computed over is `hash_input`, the user's or `[directory]`'s, and `check_password_proofs`
//! reports the routes whose clients' proofs cannot be checked against them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialect::profile::PasswordEncoding;
use crate::domain::{ClientId, GrantType, Role, UserId, Username};
use crate::engine::{
    AttrValue, Attributes, Client, ClientScopes, Directory, HashInput, InputSetting,
    ScopeConfigError, StoredHash, User,
};

use super::read;
use super::secrets::resolve_secret;
use super::{Problem, problem};

/// The `[[client]]` items, validated, and the ids of those that could not be read.
pub(super) struct Clients {
    pub read: Vec<Client>,
    /// Reported already; what names one of these is not reported again as naming nothing.
    pub unreadable: Vec<String>,
}

/// What a client id names.
pub(super) enum Named<'a> {
    Client(&'a Client),
    /// A `[[client]]` with this id that could not be read.
    Unreadable,
    Nothing,
}

impl Clients {
    pub fn named(&self, id: &str) -> Named<'_> {
        match self.read.iter().find(|c| c.id.as_str() == id) {
            Some(client) => Named::Client(client),
            None if self.unreadable.iter().any(|u| u == id) => Named::Unreadable,
            None => Named::Nothing,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawClient {
    id: String,
    #[serde(default)]
    grants: Vec<GrantType>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    /// Absent: the client may have its default scopes and nothing else.
    scopes: Option<Vec<String>>,
    #[serde(default)]
    default_scopes: Vec<String>,
    #[serde(default)]
    attributes: toml::Table,
}

/// `[directory]`: settings of the user directory as a whole.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawDirectory {
    /// What the users' hashes were computed over, unless a user says otherwise; absent, each
    /// kind's default (`HashKind::default_input`).
    #[serde(default)]
    pub hash_input: Option<HashInput>,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    username: String,
    id: String,
    #[serde(default)]
    role: Option<String>,
    password_hash: Option<String>,
    password_hash_env: Option<String>,
    password_hash_file: Option<PathBuf>,
    /// What this user's hash was computed over, over `[directory] hash_input`.
    #[serde(default)]
    hash_input: Option<HashInput>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    attributes: toml::Table,
}

/// `[[client]]`, each read and validated; a client with problems is kept, so that what names it
/// is not reported as naming nothing (one that cannot be read at all is remembered by its id).
pub(super) fn clients(
    items: Vec<toml::Value>,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Clients {
    let mut clients = Vec::new();
    let mut unreadable = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("client[{i}]");
        let id = item
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        let Some(raw_client) = read::section::<RawClient>(&key, item, problems) else {
            unreadable.extend(id);
            continue;
        };
        if raw_client.id.trim().is_empty() {
            problems.push(problem(format!("{key}.id"), "must not be empty"));
        }
        let secret = match resolve_secret(
            &format!("{key}.secret"),
            &raw_client.secret,
            &raw_client.secret_env,
            &raw_client.secret_file,
            base,
        ) {
            Ok(secret) => secret,
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let attributes = attributes(
            &format!("{key}.attributes"),
            raw_client.attributes,
            problems,
        );
        let scopes = ClientScopes::new(raw_client.scopes, raw_client.default_scopes)
            .unwrap_or_else(|e| {
                let at = match e {
                    ScopeConfigError::DefaultNotAllowed(_) => "default_scopes",
                    ScopeConfigError::NotAToken(_) => "scopes",
                };
                problems.push(problem(format!("{key}.{at}"), e.to_string()));
                ClientScopes::default()
            });
        clients.push(Client {
            id: ClientId::new(raw_client.id),
            secret,
            grants: raw_client.grants,
            scopes,
            attributes,
        });
    }
    Clients {
        read: clients,
        unreadable,
    }
}

/// `[[user]]`, each read and validated against `clients`; a user that cannot be read, or has no
/// usable password hash, is left out.
pub(super) fn users(
    items: Vec<toml::Value>,
    directory: &RawDirectory,
    clients: &Clients,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Vec<User> {
    let mut users = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("user[{i}]");
        let Some(raw_user) = read::section::<RawUser>(&key, item, problems) else {
            continue;
        };
        let hash = match resolve_secret(
            &format!("{key}.password_hash"),
            &raw_user.password_hash,
            &raw_user.password_hash_env,
            &raw_user.password_hash_file,
            base,
        ) {
            Ok(Some(text)) => {
                let input = InputSetting {
                    user: raw_user.hash_input,
                    directory: directory.hash_input,
                };
                match StoredHash::parse(text.expose().trim(), input) {
                    Ok(hash) => Some(hash),
                    // The message never quotes the value; the user's name says whose it is.
                    Err(e) => {
                        problems.push(problem(
                            format!("{key}.password_hash"),
                            format!(
                                "{e} (user {:?}; `tokengate hash-password` makes a new one)",
                                raw_user.username
                            ),
                        ));
                        None
                    }
                }
            }
            Ok(None) => {
                problems.push(problem(
                    format!("{key}.password_hash"),
                    "missing (make one with `tokengate hash-password`)",
                ));
                None
            }
            Err(p) => {
                problems.push(p);
                None
            }
        };
        for (j, client) in raw_user.clients.iter().enumerate() {
            if matches!(clients.named(client), Named::Nothing) {
                problems.push(problem(
                    format!("{key}.clients[{j}]"),
                    format!("no client with id {client:?}"),
                ));
            }
        }
        let attributes = attributes(&format!("{key}.attributes"), raw_user.attributes, problems);
        if let Some(password) = hash {
            users.push(User {
                id: UserId::new(raw_user.id),
                username: Username::new(raw_user.username),
                role: raw_user.role.map(Role::new),
                password,
                clients: raw_user.clients.into_iter().map(ClientId::new).collect(),
                attributes,
            });
        }
    }
    users
}

/// A route whose clients send the SHA-1 hex of the password cannot sign in a user whose hash is
/// over the plain password: the digest does not give the password back. Rather than every such
/// login failing, one line per route names how many users it cannot serve, and a few of them.
pub(super) fn check_password_proofs(
    routes: &[super::routes::Built],
    users: &[User],
    problems: &mut Vec<Problem>,
) {
    let unservable: Vec<&User> = users
        .iter()
        .filter(|user| !user.password.verifiable_from_sha1_hex())
        .collect();
    if unservable.is_empty() {
        return;
    }
    const NAMED: usize = 3;
    let mut named: Vec<String> = unservable
        .iter()
        .take(NAMED)
        .map(|user| format!("{:?} ({})", user.username.as_str(), user.password.kind()))
        .collect();
    if unservable.len() > NAMED {
        named.push(format!("and {} more", unservable.len() - NAMED));
    }
    let named = named.join(", ");
    for (i, built) in routes.iter().enumerate() {
        let route = &built.route;
        if route.profile().request.password != PasswordEncoding::Sha1Hex
            || !route.policy().grants.contains(&GrantType::Password)
        {
            continue;
        }
        let count = match unservable.len() {
            1 => "1 user's hash is".to_owned(),
            n => format!("{n} users' hashes are"),
        };
        problems.push(problem(
            format!("route[{i}]"),
            format!(
                "{} {:?} takes the SHA-1 hex of the password (request.password = \"sha1_hex\"), \
                 but {count} over the plain password, which a digest cannot be checked against: \
                 {named}; set hash_input = \"sha1_hex\" (on the user or in [directory]) only if \
                 those hashes were computed over the SHA-1 hex digest",
                route.dialect(),
                route.path(),
            ),
        ));
    }
}

/// The directory of `clients` and `users`. Its problems (an id or a name registered twice) have
/// no key path, so they come after every other section's.
pub(super) fn build(
    clients: Clients,
    users: Vec<User>,
    problems: &mut Vec<Problem>,
) -> Option<Directory> {
    Directory::new(clients.read, users)
        .map_err(|e| problems.push(problem("", e.to_string())))
        .ok()
}

fn attributes(key: &str, table: toml::Table, problems: &mut Vec<Problem>) -> Attributes {
    let mut out = Attributes::new();
    for (name, value) in table {
        let value = match value {
            toml::Value::String(s) => AttrValue::Str(s),
            toml::Value::Boolean(b) => AttrValue::Bool(b),
            toml::Value::Integer(i) => AttrValue::Int(i),
            toml::Value::Float(f) => AttrValue::Float(f),
            other => {
                problems.push(problem(
                    format!("{key}.{name}"),
                    format!(
                        "must be a string, boolean or number, not {}",
                        other.type_str()
                    ),
                ));
                continue;
            }
        };
        out.insert(name, value);
    }
    out
}
