//! Recorded requests for `tokengate diff`: a HAR file (HTTP Archive 1.2, as browsers' developer
//! tools, Playwright and proxies export it) or the test kit's capture (`GET /capture` on the
//! control listener, docs/testkit.md). Only the requests are read; the answers recorded beside
//! them are not compared, since both sides answer anew.

use serde::Deserialize;

/// The most requests one transcript may hold.
pub const MAX_REQUESTS: usize = 10_000;

/// A request as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// The path, from `/`.
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("not a HAR file or a test kit capture: {0}")]
    Format(String),
    #[error("entry {entry}: {reason}")]
    Entry { entry: usize, reason: String },
    #[error("more than {MAX_REQUESTS} requests")]
    TooMany,
}

#[derive(Deserialize)]
struct Har {
    log: HarLog,
}

#[derive(Deserialize)]
struct HarLog {
    entries: Vec<HarEntry>,
}

#[derive(Deserialize)]
struct HarEntry {
    request: HarRequest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<HarHeader>,
    post_data: Option<HarPostData>,
}

#[derive(Deserialize)]
struct HarHeader {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct HarPostData {
    #[serde(default)]
    text: String,
    /// Not in HAR 1.2, but written by some tools for binary bodies.
    #[serde(default)]
    encoding: Option<String>,
}

/// One exchange of the test kit's capture, as far as its request goes.
#[derive(Deserialize)]
struct Captured {
    method: String,
    path: String,
    request: CapturedMessage,
}

#[derive(Deserialize)]
struct CapturedMessage {
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Capture {
    List(Vec<Captured>),
    Wrapped { exchanges: Vec<Captured> },
}

/// The requests of a transcript, in their order.
pub fn read(text: &str) -> Result<Vec<Recorded>, TranscriptError> {
    if let Ok(har) = serde_json::from_str::<Har>(text) {
        if har.log.entries.len() > MAX_REQUESTS {
            return Err(TranscriptError::TooMany);
        }
        return har
            .log
            .entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                har_request(entry.request)
                    .map_err(|reason| TranscriptError::Entry { entry: i, reason })
            })
            .collect();
    }
    let captured = match serde_json::from_str::<Capture>(text) {
        Ok(Capture::List(list)) | Ok(Capture::Wrapped { exchanges: list }) => list,
        Err(e) => return Err(TranscriptError::Format(e.to_string())),
    };
    if captured.len() > MAX_REQUESTS {
        return Err(TranscriptError::TooMany);
    }
    Ok(captured
        .into_iter()
        .map(|c| {
            let (path, query) = split_query(&c.path);
            Recorded {
                method: c.method,
                path,
                query,
                headers: c.request.headers,
                body: c.request.body.into_bytes(),
            }
        })
        .collect())
}

fn har_request(request: HarRequest) -> Result<Recorded, String> {
    let rest = request
        .url
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("url {:?} is not absolute", request.url))?;
    let target = rest.find('/').map_or("/", |at| &rest[at..]);
    // A fragment never reaches a server.
    let target = target.split('#').next().unwrap_or(target);
    let (path, query) = split_query(target);
    let body = match request.post_data {
        None => Vec::new(),
        Some(data) if data.encoding.as_deref() == Some("base64") => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(data.text.as_bytes())
                .map_err(|e| format!("postData is not base64: {e}"))?
        }
        Some(data) => data.text.into_bytes(),
    };
    Ok(Recorded {
        method: request.method,
        path,
        query,
        headers: request
            .headers
            .into_iter()
            // HTTP/2 pseudo-headers (`:authority`) are the request line's, not headers.
            .filter(|h| !h.name.starts_with(':'))
            .map(|h| (h.name, h.value))
            .collect(),
        body,
    })
}

fn split_query(target: &str) -> (String, Option<String>) {
    match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_har_and_the_capture() {
        let har = r#"{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[
            {"request":{"method":"POST","url":"http://127.0.0.1:8080/Token?x=1#f","httpVersion":"HTTP/1.1",
             "headers":[{"name":":authority","value":"h"},{"name":"Content-Type","value":"application/x-www-form-urlencoded"}],
             "postData":{"mimeType":"application/x-www-form-urlencoded","text":"grant_type=password"}},
             "response":{"status":200}}]}}"#;
        let read = read(har).unwrap();
        assert_eq!(read[0].path, "/Token");
        assert_eq!(read[0].query.as_deref(), Some("x=1"));
        assert_eq!(read[0].headers.len(), 1);
        assert_eq!(read[0].body, b"grant_type=password");
        let capture = r#"[{"id":1,"method":"POST","path":"/api/Token","request":{"headers":[["content-type","application/json"]],"body":"{}"}}]"#;
        assert_eq!(super::read(capture).unwrap()[0].path, "/api/Token");
        assert!(super::read("{}").is_err());
    }
}
