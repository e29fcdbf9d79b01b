//! The framework-free boundary: a request as the dialects and endpoints read it, and an answer
//! as they write it. Exactly one actix handler (`crate::http`) converts to and from these, so
//! everything below HTTP compiles and is tested without a web framework.

#![deny(missing_docs)]

use std::net::IpAddr;

/// Request headers, as whatever HTTP layer holds them.
pub trait Headers: Sync {
    /// The first value of a header, by case-insensitive name.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request as the dialect sees it: framework-free.
pub struct WireRequest<'a> {
    /// The method, as sent (`POST`).
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The request headers.
    pub headers: &'a dyn Headers,
    /// The caller's address, after trusted-proxy resolution.
    pub peer: IpAddr,
    /// Whether the connection came from a configured trusted proxy (which may vouch for a
    /// Windows principal).
    pub from_trusted_proxy: bool,
    /// The body, read whole up to the route's limit.
    pub body: &'a [u8],
}

/// An answer as the dialect writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// The error beneath a malformed body: the codec's own (form, JSON, XML, charset), kept whole
/// as the source so its chain reaches the log.
pub type BodyError = std::sync::Arc<dyn std::error::Error + Send + Sync>;

/// Why a request was refused before any grant logic ran: the route cannot read it as sent.
/// Every route can meet these, whatever its grants; see `crate::engine::GrantError` for the
/// outcomes of the grant itself.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("the request body is malformed: {0}")]
    /// The body does not read as the route's codec says.
    MalformedBody(#[source] BodyError),
    #[error("the request body exceeds the limit of {limit} bytes")]
    /// The body is over the route's limit.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    #[error("the request body did not arrive within {}", humantime::format_duration(*.0))]
    /// The body was still incomplete when the server's `body_timeout` ran out.
    BodyTimeout(std::time::Duration),
    /// `None`: the request has a body but no `Content-Type`.
    #[error("the media type {0:?} is not supported")]
    UnsupportedMediaType(Option<String>),
    #[error("the method {0} is not allowed")]
    /// A method the route does not take.
    MethodNotAllowed(String),
    #[error("no acceptable response format")]
    /// Nothing the route writes is acceptable to the client (only where the route says so).
    NotAcceptable,
}

impl Refusal {
    /// A malformed body, from the error that says why.
    pub fn malformed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Refusal::MalformedBody(std::sync::Arc::new(error))
    }

    /// What exactly was wrong, for the `{detail}` placeholder of an error text. A refusal is
    /// about the request as sent, so saying so reveals nothing about accounts or tokens.
    pub fn detail(&self) -> Option<String> {
        match self {
            Refusal::MalformedBody(why) => Some(why.to_string()),
            Refusal::BodyTooLarge { limit } => Some(limit.to_string()),
            Refusal::BodyTimeout(after) => Some(humantime::format_duration(*after).to_string()),
            Refusal::UnsupportedMediaType(media) => media.clone(),
            Refusal::MethodNotAllowed(method) => Some(method.clone()),
            Refusal::NotAcceptable => None,
        }
    }
}
