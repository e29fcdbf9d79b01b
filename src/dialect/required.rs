//! The parameters each grant requires: the defaults, with a profile's `request.required` over
//! them. Compiling a route, checking its error table and reading a request all consult it.

use std::collections::BTreeMap;

use super::profile::RequestFields;
use crate::domain::GrantType;

/// The parameters each grant requires, by parameter key (see [`RequestFields::PARAMS`]).
#[derive(Debug, Clone)]
pub struct Required {
    password: Vec<String>,
    refresh_token: Vec<String>,
    client_credentials: Vec<String>,
}

impl Required {
    /// The profile's `request.required` over the defaults, and the keys it names that are not
    /// parameters (left out).
    pub fn new(listed: &BTreeMap<GrantType, Vec<String>>) -> (Self, Vec<String>) {
        let unknown: Vec<String> = listed
            .values()
            .flatten()
            .filter(|p| !RequestFields::PARAMS.contains(&p.as_str()))
            .cloned()
            .collect();
        let get = |grant: GrantType, default: &[&str]| -> Vec<String> {
            match listed.get(&grant) {
                Some(params) => params
                    .iter()
                    .filter(|p| RequestFields::PARAMS.contains(&p.as_str()))
                    .cloned()
                    .collect(),
                None => default.iter().map(|p| (*p).to_owned()).collect(),
            }
        };
        let required = Self {
            password: get(GrantType::Password, &["username", "password"]),
            refresh_token: get(GrantType::RefreshToken, &["refresh_token"]),
            client_credentials: get(GrantType::ClientCredentials, &[]),
        };
        (required, unknown)
    }

    /// The parameters `grant` requires.
    pub fn of(&self, grant: GrantType) -> &[String] {
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
        grants.any(|grant| {
            self.of(grant)
                .iter()
                .any(|p| !matches!(p.as_str(), "username" | "password" | "refresh_token"))
        })
    }
}
