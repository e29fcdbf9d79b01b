//! The parameters each grant requires: the defaults, with a profile's `request.required` over
//! them. Compiling a route, checking its error table and reading a request all consult it.

use std::collections::BTreeMap;

use super::profile::ParamKey;
use crate::domain::GrantType;
use crate::engine::Param;

/// The parameters each grant requires, by parameter key.
#[derive(Debug, Clone)]
pub struct Required {
    password: Vec<ParamKey>,
    refresh_token: Vec<ParamKey>,
    client_credentials: Vec<ParamKey>,
}

impl Required {
    /// The profile's `request.required` over the defaults, and the keys it names that are not
    /// parameters (left out).
    pub fn new(listed: &BTreeMap<GrantType, Vec<String>>) -> (Self, Vec<String>) {
        let unknown: Vec<String> = listed
            .values()
            .flatten()
            .filter(|p| ParamKey::parse(p).is_none())
            .cloned()
            .collect();
        let get = |grant: GrantType, default: &[ParamKey]| -> Vec<ParamKey> {
            match listed.get(&grant) {
                Some(params) => params.iter().filter_map(|p| ParamKey::parse(p)).collect(),
                None => default.to_vec(),
            }
        };
        let required = Self {
            password: get(
                GrantType::Password,
                &[ParamKey::Username, ParamKey::Password],
            ),
            refresh_token: get(GrantType::RefreshToken, &[ParamKey::RefreshToken]),
            client_credentials: get(GrantType::ClientCredentials, &[]),
        };
        (required, unknown)
    }

    /// The parameters `grant` requires.
    pub fn of(&self, grant: GrantType) -> &[ParamKey] {
        match grant {
            GrantType::Password => &self.password,
            GrantType::RefreshToken => &self.refresh_token,
            GrantType::ClientCredentials => &self.client_credentials,
        }
    }

    /// Whether some grant requires a parameter without an error row of its own (only
    /// `username`, `password` and `refresh_token` have one), so `missing_parameter` is needed.
    pub fn needs_generic_row(&self, grants: impl Iterator<Item = GrantType>) -> bool {
        let mut grants = grants;
        grants.any(|grant| self.of(grant).iter().any(|p| own_row(*p).is_none()))
    }
}

/// The engine's name for a parameter whose absence has an error row of its own
/// (`missing_username`, `missing_password`, `missing_refresh_token`); `None`: the generic
/// `missing_parameter` row answers for it.
pub fn own_row(param: ParamKey) -> Option<Param> {
    match param {
        ParamKey::Username => Some(Param::Username),
        ParamKey::Password => Some(Param::Password),
        ParamKey::RefreshToken => Some(Param::RefreshToken),
        _ => None,
    }
}
