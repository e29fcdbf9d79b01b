//! `[katana]`: the legacy application's `<machineKey>`, for routes whose access tokens are
//! Katana tickets (`access_token_format = "katana_ticket"`) and for reading the tickets the
//! legacy server issued. The algorithms default to `<machineKey>`'s own defaults (validation
//! HMACSHA256, decryption Auto, which is AES); the keys are hex as web.config writes them,
//! inline, from an environment variable or from a file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::katana::{
    ACCESS_TOKEN_PURPOSES, Decryption, Katana, MachineKey, REFRESH_TOKEN_PURPOSES, TicketFormat,
    Validation,
};

use super::secrets::resolve_secret;
use super::{Problem, problem};

/// The one `MachineKey.Protect` scheme implemented (see `engine::katana::machine_key`).
const FRAMEWORK45: &str = "Framework45";

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawKatana {
    validation: Option<String>,
    validation_key: Option<String>,
    validation_key_env: Option<String>,
    validation_key_file: Option<PathBuf>,
    decryption: Option<String>,
    decryption_key: Option<String>,
    decryption_key_env: Option<String>,
    decryption_key_file: Option<PathBuf>,
    compatibility: Option<String>,
    purposes: Option<Vec<String>>,
    refresh_purposes: Option<Vec<String>>,
    /// Claim type = the user attribute its value comes from.
    #[serde(default)]
    claims: std::collections::BTreeMap<String, String>,
    client_property: Option<String>,
}

/// What `[katana]` (or a route's `katana` table, whose key path is `at`) describes, or `None`
/// (no section, or problems pushed).
pub(super) fn validate(
    raw: Option<&RawKatana>,
    base: Option<&Path>,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<Katana> {
    let raw = raw?;
    let before = problems.len();
    let validation = Validation::parse(raw.validation.as_deref().unwrap_or("HMACSHA256"))
        .map_err(|e| problems.push(problem(format!("{at}.validation"), e.to_string())))
        .ok();
    let decryption = Decryption::parse(raw.decryption.as_deref().unwrap_or("Auto"))
        .map_err(|e| problems.push(problem(format!("{at}.decryption"), e.to_string())))
        .ok();
    match raw.compatibility.as_deref() {
        None | Some(FRAMEWORK45) => {}
        Some(other) => problems.push(problem(
            format!("{at}.compatibility"),
            format!(
                "{other:?} is not supported: only {FRAMEWORK45}, the scheme of \
                 MachineKey.Protect, which Katana's MachineKeyDataProtector calls on .NET 4.5 \
                 whatever <machineKey compatibilityMode> says (the MachineKey.Encode layout of \
                 Katana's .NET 4.0 build is not implemented)"
            ),
        )),
    }
    let key = |name: &str, value, env, file, problems: &mut Vec<Problem>| {
        let at = format!("{at}.{name}");
        match resolve_secret(&at, value, env, file, base) {
            Ok(Some(secret)) => Some(secret),
            Ok(None) => {
                problems.push(problem(
                    at.clone(),
                    format!(
                        "missing: give one of {at}, {at}_env, {at}_file (hex, as in web.config)"
                    ),
                ));
                None
            }
            Err(p) => {
                problems.push(p);
                None
            }
        }
    };
    let validation_key = key(
        "validation_key",
        &raw.validation_key,
        &raw.validation_key_env,
        &raw.validation_key_file,
        problems,
    )
    .and_then(|secret| {
        MachineKey::validation_key(secret.expose())
            .map_err(|e| problems.push(problem(format!("{at}.validation_key"), e.to_string())))
            .ok()
            .map(|_| secret)
    });
    let decryption_key = key(
        "decryption_key",
        &raw.decryption_key,
        &raw.decryption_key_env,
        &raw.decryption_key_file,
        problems,
    )
    .and_then(|secret| {
        let decryption = decryption?;
        MachineKey::decryption_key(decryption, secret.expose())
            .map_err(|e| problems.push(problem(format!("{at}.decryption_key"), e.to_string())))
            .ok()
            .map(|_| secret)
    });
    let purposes = purposes_of(
        at,
        "purposes",
        &raw.purposes,
        ACCESS_TOKEN_PURPOSES,
        problems,
    );
    let refresh_purposes = purposes_of(
        at,
        "refresh_purposes",
        &raw.refresh_purposes,
        REFRESH_TOKEN_PURPOSES,
        problems,
    );
    for (claim_type, attribute) in &raw.claims {
        if claim_type.trim().is_empty() || attribute.trim().is_empty() {
            problems.push(problem(
                format!("{at}.claims.{claim_type}"),
                "a claim type and the attribute its value comes from, neither blank",
            ));
        }
    }
    if raw
        .client_property
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        problems.push(problem(
            format!("{at}.client_property"),
            "the name of the property that holds the client id (e.g. \"as:client_id\"), not blank",
        ));
    }
    if problems.len() > before {
        return None;
    }
    let machine_key = MachineKey::new(
        validation?,
        validation_key?.expose(),
        decryption?,
        decryption_key?.expose(),
    )
    .map_err(|e| problems.push(problem(at, e.to_string())))
    .ok()?;
    Some(Katana {
        format: TicketFormat::new(&machine_key, purposes),
        refresh_format: TicketFormat::new(&machine_key, refresh_purposes),
        attribute_claims: raw.claims.clone().into_iter().collect(),
        client_property: raw.client_property.clone(),
    })
}

/// `[katana] purposes` or `refresh_purposes`, or the template's default for it.
fn purposes_of(
    at: &str,
    key: &str,
    configured: &Option<Vec<String>>,
    default: [&str; 3],
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let Some(purposes) = configured else {
        return default.map(String::from).to_vec();
    };
    // MachineKey.Protect refuses a blank purpose.
    for (i, purpose) in purposes.iter().enumerate() {
        if purpose.trim().is_empty() {
            problems.push(problem(
                format!("{at}.{key}[{i}]"),
                "must not be empty or blank (MachineKey.Protect refuses it)",
            ));
        }
    }
    purposes.clone()
}
