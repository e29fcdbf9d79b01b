//! Where a client's identity is read from: the sources a profile lists
//! (`request.client_credentials`), tried in order, the first with a client id winning. Katana
//! providers read `Authorization: Basic` first, then the form; OAuth libraries send the id in
//! Basic with an empty secret, while documentation pages send it in the body, so both work.

use std::borrow::Cow;

use base64::Engine as _;

use super::profile::{CredentialSource, RequestFields, RequestSpec};
use crate::domain::{ClientId, Secret};
use crate::engine::{ClientAuth, ClientAuthVia};
use crate::wire::Headers;

/// The client's claimed identity; `param` reads a body parameter by its wire name, `names` are
/// the wire names of the body's format.
pub fn client_auth<'p>(
    spec: &RequestSpec,
    names: &RequestFields,
    headers: &dyn Headers,
    param: &dyn Fn(&str) -> Option<Cow<'p, str>>,
) -> ClientAuth {
    for source in &spec.client_credentials {
        match source {
            CredentialSource::Basic => {
                if let Some((id, secret)) = headers.get("authorization").and_then(basic) {
                    return ClientAuth {
                        id: Some(ClientId::new(id)),
                        secret: Some(Secret::new(secret)),
                        via: ClientAuthVia::BasicHeader,
                    };
                }
            }
            CredentialSource::Header {
                header,
                secret_header,
            } => {
                if let Some(id) = headers
                    .get(header)
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                {
                    return ClientAuth {
                        id: Some(ClientId::new(id)),
                        secret: secret_header
                            .as_deref()
                            .and_then(|name| headers.get(name))
                            .map(Secret::new),
                        via: ClientAuthVia::Header,
                    };
                }
            }
            CredentialSource::Body => {
                // Katana treats an empty or blank client_id as absent.
                if let Some(id) = param(&names.client_id).filter(|id| !id.trim().is_empty()) {
                    return ClientAuth {
                        id: Some(ClientId::new(id.into_owned())),
                        secret: param(&names.client_secret).map(|s| Secret::new(s.into_owned())),
                        via: ClientAuthVia::Body,
                    };
                }
            }
        }
    }
    ClientAuth {
        id: None,
        secret: None,
        via: ClientAuthVia::None,
    }
}

/// `Authorization: Basic base64(id:secret)`, UTF-8, split at the first `:` (Katana's
/// `TryGetBasicCredentials`; a header that does not decode is ignored, as there).
pub fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    (!id.is_empty()).then(|| (id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id:sec:ret")
        );
        assert_eq!(basic(&header), Some(("id".into(), "sec:ret".into())));
        assert_eq!(basic("Basic !!!"), None);
        assert_eq!(basic("Bearer abc"), None);
    }
}
