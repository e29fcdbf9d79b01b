//! `[signing]`: the keys tokens are signed and verified with. One HS256 secret keeps a small
//! setup small; a `[[signing.key]]` list allows asymmetric keys (verifiable from the JWKS without
//! the gateway) and rotation, a retired key verifying until `verify_until`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::keys::algorithm;
use crate::engine::{Key, Keyring};

use super::read;
use super::secrets::{read_file, resolve_secret};
use super::{Problem, problem};

/// `[signing]`: either one HS256 secret (`secret`, `secret_env`, `secret_file`), or a list of
/// `[[signing.key]]` (HS256, ES256, RS256; retired keys verify-only until `verify_until`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawSigning {
    #[serde(default)]
    algorithm: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    kid: Option<String>,
    /// The kid that signs unless a route names another (`signing_key`).
    default_key: Option<String>,
    /// Read one by one (`RawKey`), so each key's problems are its own.
    #[serde(default)]
    key: Vec<toml::Value>,
}

#[derive(Debug, Deserialize)]
struct RawKey {
    kid: String,
    algorithm: String,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    private_key_file: Option<PathBuf>,
    public_key_file: Option<PathBuf>,
    verify_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Signing settings, validated.
#[derive(Debug)]
pub enum SigningKey {
    Keys(Keyring),
    /// No key configured: `serve` makes a random HS256 key for this process.
    Ephemeral,
}

/// The keyring `[signing]` describes; problems are pushed with their key paths.
pub(super) fn validate(
    raw: &RawSigning,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> SigningKey {
    let mut keys = Vec::new();
    let legacy = resolve_secret(
        "signing.secret",
        &raw.secret,
        &raw.secret_env,
        &raw.secret_file,
        base,
    );
    match (&raw.algorithm, legacy) {
        (Some(alg), _) if alg != "HS256" => problems.push(problem(
            "signing.algorithm",
            format!(
                "{alg:?}: a single [signing] secret is HS256; asymmetric keys go in [[signing.key]]"
            ),
        )),
        (_, Ok(Some(secret))) => match Key::hs256(&secret, raw.kid.clone()) {
            Ok(key) => keys.push(key),
            Err(e) => problems.push(problem("signing.secret", e.to_string())),
        },
        (_, Ok(None)) => {}
        (_, Err(p)) => problems.push(p),
    }
    for (i, item) in raw.key.iter().enumerate() {
        let at = format!("signing.key[{i}]");
        let Some(raw_key) = read::section::<RawKey>(&at, item.clone(), problems) else {
            continue;
        };
        match signing_key(&raw_key, &at, base) {
            Ok(key) => keys.push(key),
            Err(p) => problems.push(p),
        }
    }
    if keys.is_empty() {
        if raw.default_key.is_some() {
            problems.push(problem(
                "signing.default_key",
                "names a key, but none is configured",
            ));
        }
        return SigningKey::Ephemeral;
    }
    match Keyring::new(keys, raw.default_key.as_deref()) {
        Ok(keyring) => SigningKey::Keys(keyring),
        Err(e) => {
            problems.push(problem("signing", e.to_string()));
            SigningKey::Ephemeral
        }
    }
}

fn signing_key(raw: &RawKey, at: &str, base: Option<&Path>) -> Result<Key, Problem> {
    let alg =
        algorithm(&raw.algorithm).map_err(|e| problem(format!("{at}.algorithm"), e.to_string()))?;
    let secret = resolve_secret(
        &format!("{at}.secret"),
        &raw.secret,
        &raw.secret_env,
        &raw.secret_file,
        base,
    )?;
    let private = resolve_secret(
        &format!("{at}.private_key"),
        &raw.private_key,
        &raw.private_key_env,
        &raw.private_key_file,
        base,
    )?;
    let public = match &raw.public_key_file {
        Some(path) => Some(read_file(&format!("{at}.public_key_file"), path, base)?),
        None => None,
    };
    let key = match (alg, secret, private, public) {
        (jsonwebtoken::Algorithm::HS256, Some(secret), None, None) => {
            Key::hs256(&secret, Some(raw.kid.clone()))
                .map_err(|e| problem(format!("{at}.secret"), e.to_string()))
        }
        (jsonwebtoken::Algorithm::HS256, _, _, _) => Err(problem(
            at,
            "an HS256 key needs exactly one of secret, secret_env, secret_file",
        )),
        (_, None, Some(pem), None) => {
            Key::private_pem(raw.kid.clone(), alg, pem.expose().as_bytes())
                .map_err(|e| problem(format!("{at}.private_key"), e.to_string()))
        }
        (_, None, None, Some(pem)) => Key::public_pem(raw.kid.clone(), alg, pem.as_bytes())
            .map_err(|e| problem(format!("{at}.public_key_file"), e.to_string())),
        _ => Err(problem(
            at,
            format!(
                "a {} key needs one private key (private_key, private_key_env, private_key_file) \
                 or, retired, a public_key_file",
                raw.algorithm
            ),
        )),
    }?;
    Ok(match raw.verify_until {
        Some(until) => key.verify_until(until),
        None => key,
    })
}
