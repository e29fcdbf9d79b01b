//! The legacy endpoint as shadow mode and `tokengate diff` call it: the client's request sent
//! on as it came (method, query, headers but the hop-by-hop ones, body), over HTTP or HTTPS
//! (rustls with the ring provider, the system roots and `[shadow] ca_file`), under a timeout,
//! and its answer read whole up to a bound.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{ForwardedFor, ShadowSettings};
use crate::wire::WireResponse;

/// The most of an upstream answer's body that is read: token answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Headers that belong to one connection (RFC 9110 §7.6.1), and the two the client library
/// writes itself for the new one (`Host`, `Content-Length`).
const NOT_FORWARDED: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Why the upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot read the CA file {path}: {reason}")]
    Ca {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Exchange(String),
    #[error("answer body over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// A request as it is sent on.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: String,
    /// The client's query string, without `?`.
    pub query: Option<String>,
    /// Without the hop-by-hop headers, `X-Forwarded-For` as configured.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Outgoing {
    /// The client's request, as the upstream must see it; `peer` is the client's address.
    pub fn new<'a>(
        method: &str,
        query: Option<&str>,
        headers: impl Iterator<Item = (&'a str, &'a str)>,
        body: &[u8],
        peer: IpAddr,
        forwarded_for: ForwardedFor,
    ) -> Self {
        let headers: Vec<(String, String)> =
            headers.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        // A header the client's `Connection` names is hop-by-hop too.
        let named: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
            .collect();
        let mut kept: Vec<(String, String)> = Vec::with_capacity(headers.len() + 1);
        let mut forwarded: Option<String> = None;
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            if NOT_FORWARDED.contains(&lower.as_str())
                || named.contains(&lower)
                || lower == "content-length"
            {
                continue;
            }
            if lower == "x-forwarded-for" {
                forwarded = Some(match forwarded {
                    Some(before) => format!("{before}, {value}"),
                    None => value,
                });
                continue;
            }
            kept.push((name, value));
        }
        let forwarded = match forwarded_for {
            ForwardedFor::Drop => None,
            ForwardedFor::Keep => forwarded,
            ForwardedFor::Append => Some(match forwarded {
                Some(before) => format!("{before}, {peer}"),
                None => peer.to_string(),
            }),
        };
        if let Some(value) = forwarded {
            kept.push(("X-Forwarded-For".into(), value));
        }
        Self {
            method: method.to_owned(),
            query: query.filter(|q| !q.is_empty()).map(str::to_owned),
            headers: kept,
            body: body.to_vec(),
        }
    }
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Body = http_body_util::Full<bytes::Bytes>;

/// The HTTP client every shadowed route of a configuration shares (one connection pool).
pub struct Upstream {
    client: hyper_util::client::legacy::Client<Connector, Body>,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    pub fn new(settings: &ShadowSettings) -> Result<Self, UpstreamError> {
        let mut roots = rustls::RootCertStore::empty();
        // A machine without a system store still reaches a configured CA.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = &settings.ca_file {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject;
            let ca = |reason: String| UpstreamError::Ca {
                path: path.clone(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca("no certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| ca(e.to_string()))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.timeout));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Redirects are not followed: the client's answer is the upstream's, a redirect too.
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(Self {
            client,
            timeout: settings.timeout,
        })
    }

    /// Sends `request` to `url` (the client's query appended) and reads the answer.
    pub async fn send(&self, url: &str, request: &Outgoing) -> Result<WireResponse, UpstreamError> {
        use http_body_util::BodyExt as _;
        let exchange = async {
            let url = match &request.query {
                Some(query) => format!("{url}?{query}"),
                None => url.to_owned(),
            };
            let mut builder = hyper::Request::builder()
                .method(request.method.as_str())
                .uri(url);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            let outgoing = builder
                .body(Body::new(bytes::Bytes::from(request.body.clone())))
                .map_err(|e| UpstreamError::Exchange(e.to_string()))?;
            let response = self
                .client
                .request(outgoing)
                .await
                .map_err(|e| UpstreamError::Exchange(chain(&e)))?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter(|(name, _)| passed_back(name.as_str()))
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                    Ok(_) => UpstreamError::TooLarge,
                    Err(e) => UpstreamError::Exchange(chain(&*e)),
                })?
                .to_bytes()
                .to_vec();
            Ok(WireResponse {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout(self.timeout))?
    }
}

/// The answer's headers the gateway's server writes itself, or that belonged to the upstream's
/// connection, are not passed back to the client: the rest are, as sent.
fn passed_back(name: &str) -> bool {
    !(NOT_FORWARDED.contains(&name) || name == "content-length" || name == "date")
}

/// An error with its causes: the client's own text is often only "client error (Connect)".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The answer as compared: a gzip body (the client asked for one) decompressed, so that its
/// structure is compared and not its compression; the bytes sent to the client are untouched.
pub fn decoded(answer: &WireResponse) -> std::borrow::Cow<'_, WireResponse> {
    use std::io::Read as _;
    let gzip = answer.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("content-encoding") && v.trim().eq_ignore_ascii_case("gzip")
    });
    if !gzip {
        return std::borrow::Cow::Borrowed(answer);
    }
    let mut body = Vec::new();
    let reader = flate2::read::GzDecoder::new(&answer.body[..]);
    if reader
        .take(MAX_ANSWER_BYTES as u64)
        .read_to_end(&mut body)
        .is_err()
    {
        return std::borrow::Cow::Borrowed(answer);
    }
    std::borrow::Cow::Owned(WireResponse {
        status: answer.status,
        headers: answer.headers.clone(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_hears_the_client_but_not_its_connection() {
        let headers = [
            ("Host", "gateway.example"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "3"),
            ("Authorization", "Basic ZGVtbzpz"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("Content-Type", "application/json"),
        ];
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let sent = |forwarded| {
            Outgoing::new(
                "POST",
                Some("a=1"),
                headers.iter().copied(),
                b"{}",
                peer,
                forwarded,
            )
        };
        let appended = sent(ForwardedFor::Append);
        let names: Vec<&str> = appended.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Authorization", "Content-Type", "X-Forwarded-For"]);
        assert_eq!(appended.headers[2].1, "203.0.113.7, 192.0.2.1");
        assert_eq!(appended.query.as_deref(), Some("a=1"));
        assert_eq!(sent(ForwardedFor::Keep).headers[2].1, "203.0.113.7");
        assert_eq!(sent(ForwardedFor::Drop).headers.len(), 2);
    }
}
