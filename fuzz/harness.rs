//! The entry points the fuzz targets drive, one function per target. Shared by the targets
//! (`fuzz_targets/*.rs`) and the corpus replay in the main crate's tests
//! (`tests/api/fuzz_corpus.rs`), so CI on stable feeds every corpus file to exactly the code the
//! fuzzer exercised. Each function must return normally for any input: a panic is the finding.

// Each fuzz target uses one of these functions; the replay test uses them all.
#![allow(dead_code)]

use tokengate::config::{self, Source};
use tokengate::dialect::codec::BodyReader;
use tokengate::dialect::form;
use tokengate::dialect::negotiate::{self, NoMatch, RequestHeaders};
use tokengate::dialect::xml::{self, MemberOrder, XmlContract, XmlLimits};

/// The seeded dialects' limit; a small one as well, so the "too many" paths are reached.
const MAX_PARAMS: [usize; 2] = [100, 3];

/// The charsets a Content-Type can name, chosen by the input's first byte.
fn charset(selector: u8) -> Option<&'static str> {
    match selector % 6 {
        0 => None,
        1 => Some("utf-8"),
        2 => Some("utf-16"),
        3 => Some("utf-16be"),
        4 => Some("\"UTF-16LE\""),
        _ => Some("latin1"),
    }
}

/// Katana form rules, and the lookups the request reader makes afterwards.
pub fn form(data: &[u8]) {
    for max in MAX_PARAMS {
        if let Ok(params) = form::parse(data, max) {
            for name in ["grant_type", "USERNAME", "clé"] {
                let _ = params.get(name, false);
                let _ = params.get(name, true);
            }
        }
    }
}

/// The JSON body codecs; the first byte picks the charset.
pub fn json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let charset = charset(selector);
    for max in MAX_PARAMS {
        if let Ok(params) = BodyReader::Json.read(body, charset, max) {
            let _ = params.get("grant_type", false);
        }
    }
    let _ = BodyReader::JsonString("refresh_token".into()).read(body, charset, 100);
}

/// The Swagger dialect's DataContract contract (`dialects/swagger.toml`).
const CONTRACT: XmlContract<'static> = XmlContract {
    root: "TokenRequest",
    namespace: "http://schemas.datacontract.org/2004/07/IO.Swagger.Models",
    members: &[
        "client_id",
        "client_secret",
        "grant_type",
        "password",
        "refresh_token",
        "scope",
        "username",
    ],
};

/// The DataContract readers, through charset decoding as the codec calls them; the first byte
/// picks the charset.
pub fn xml(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let limits = XmlLimits {
        max_depth: 32,
        max_members: 100,
    };
    let Ok(text) = xml::decode_text(body, charset(selector)) else {
        return;
    };
    for order in [MemberOrder::AnyOrder, MemberOrder::DataContract] {
        let _ = xml::read_members(text.as_bytes(), &CONTRACT, order, &limits);
    }
    let _ = xml::read_primitive(
        text.as_bytes(),
        "string",
        xml::SERIALIZATION_NAMESPACE,
        &limits,
    );
    let _ = BodyReader::DataContractString("refresh_token".into()).read(body, None, 100);
}

/// Web API negotiation: the input's lines are Accept, Accept, Accept-Charset, Content-Type and
/// X-Requested-With.
pub fn negotiate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("");
    let accept = [next(), next()];
    let accept_charset = [next()];
    let content_type = next();
    let x_requested_with = next();
    for no_match in [NoMatch::FallBackToJson, NoMatch::NotAcceptable] {
        let headers = RequestHeaders {
            accept: &accept,
            accept_charset: &accept_charset,
            content_type: Some(content_type),
            x_requested_with: Some(x_requested_with),
        };
        if let Some(negotiated) = negotiate::negotiate_headers(&headers, no_match) {
            let _ = negotiated.content_type();
        }
        let _ = negotiate::negotiate(Some(accept[0]), Some(accept_charset[0]), None, no_match);
    }
    let _ = negotiate::media_type_of(content_type);
}

/// The profile compiler: the text as one route's table (its dialect and overrides) and as a
/// whole configuration file. Problems are answers; only a panic is a finding.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = config::route_from_toml(text);
    let _ = config::load_with_env(&Source::Text(text.to_owned()), false);
}
