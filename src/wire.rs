//! The framework-free boundary: a request as the dialects and endpoints read it, and an answer
//! as they write it. Exactly one actix handler (`crate::http`) converts to and from these, so
//! everything below HTTP compiles and is tested without a web framework.

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
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a dyn Headers,
    /// The caller's address, after trusted-proxy resolution.
    pub peer: IpAddr,
    /// Whether the connection came from a configured trusted proxy (which may vouch for a
    /// Windows principal).
    pub from_trusted_proxy: bool,
    pub body: &'a [u8],
}

/// An answer as the dialect writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
