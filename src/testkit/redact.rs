//! Secrets out of captured exchanges: passwords, client secrets, SHA-1 digests, credentials in
//! headers, and tokens are replaced by `[redacted]` before an exchange is kept, so a capture can
//! go into a bug report. Form, JSON and XML bodies are read by the names of their members; then
//! every secret value found is also replaced wherever else it appears (an echo, a header).

use std::ops::Range;

use crate::domain::is_secret_member;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Headers whose values are secrets; `Authorization` keeps its scheme.
const SECRET_HEADERS: &[&str] = &["cookie", "set-cookie", "proxy-authorization"];

/// Values shorter than this are replaced where their member names them, but not searched for
/// elsewhere: a three-letter password would otherwise blank every word that holds it.
const MIN_ECHO_LEN: usize = 6;

/// Collects secrets as it redacts, so that the answer can be cleaned of what the request sent.
#[derive(Default)]
pub struct Redactor {
    seen: Vec<String>,
}

impl Redactor {
    /// `headers` with credentials redacted.
    pub fn headers(&mut self, headers: &[(String, String)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(name, value)| {
                let lower = name.to_ascii_lowercase();
                let value = if lower == "authorization" {
                    let scheme = value.split_whitespace().next().unwrap_or_default();
                    if let Some(credentials) = value.get(scheme.len()..) {
                        self.remember(credentials.trim());
                    }
                    format!("{scheme} {REDACTED}")
                } else if SECRET_HEADERS.contains(&lower.as_str()) {
                    REDACTED.to_owned()
                } else {
                    value.clone()
                };
                (name.clone(), value)
            })
            .collect()
    }

    /// `body` (of the media type `content_type`) as text with its secrets redacted.
    pub fn body(&mut self, content_type: Option<&str>, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body).into_owned();
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let trimmed = text.trim_start();
        let ranges = if media.ends_with("json") || trimmed.starts_with('{') {
            json_secret_ranges(&text)
        } else if media.ends_with("xml") || trimmed.starts_with('<') {
            xml_secret_ranges(&text)
        } else if media == "application/x-www-form-urlencoded" || text.contains('=') {
            form_secret_ranges(&text)
        } else {
            Vec::new()
        };
        for range in &ranges {
            let value = &text[range.clone()];
            self.remember(value);
            if let Ok(decoded) = percent_decode(value) {
                self.remember(&decoded);
            }
        }
        let mut out = replace_ranges(&text, &ranges);
        self.scrub(&mut out);
        out
    }

    /// Replaces every remembered secret in `text`.
    pub fn scrub(&self, text: &mut String) {
        for secret in &self.seen {
            if text.contains(secret.as_str()) {
                *text = text.replace(secret.as_str(), REDACTED);
            }
        }
    }

    fn remember(&mut self, value: &str) {
        if value.len() >= MIN_ECHO_LEN && value != REDACTED && !self.seen.iter().any(|s| s == value)
        {
            self.seen.push(value.to_owned());
            // Longest first, so that a secret holding another is replaced whole.
            self.seen.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }
}

fn replace_ranges(text: &str, ranges: &[Range<usize>]) -> String {
    let mut ranges = ranges.to_vec();
    ranges.sort_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in ranges {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(REDACTED);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

fn percent_decode(value: &str) -> Result<String, ()> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={value}")).map_err(|_| ())?;
    pairs.into_iter().next().map(|(_, v)| v).ok_or(())
}

/// The values of secret members of a form body (`a=1&password=x`).
fn form_secret_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for pair in text.split('&') {
        if let Some(eq) = pair.find('=') {
            let name = percent_decode(&pair[..eq]).unwrap_or_else(|()| pair[..eq].to_owned());
            if is_secret_member(name.trim()) && eq + 1 < pair.len() {
                ranges.push(start + eq + 1..start + pair.len());
            }
        }
        start += pair.len() + 1;
    }
    ranges
}

/// The contents of string values of secret members of a JSON body, found by a scan of its
/// strings (a body that is not valid JSON is still scanned as far as it reads).
fn json_secret_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut i = 0;
    let mut last_string: Option<Range<usize>> = None;
    let mut pending_secret = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                if pending_secret {
                    ranges.push(start..end);
                    pending_secret = false;
                    last_string = None;
                } else {
                    last_string = Some(start..end);
                }
                i = end + 1;
                continue;
            }
            b':' => {
                pending_secret = last_string
                    .take()
                    .is_some_and(|name| is_secret_member(&text[name]));
            }
            b',' | b'{' | b'}' | b'[' | b']' => {
                last_string = None;
                pending_secret = false;
            }
            _ => {}
        }
        i += 1;
    }
    ranges
}

/// The text of secret elements of an XML body (`<password>x</password>`, any prefix).
fn xml_secret_ranges(text: &str) -> Vec<Range<usize>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut ranges = Vec::new();
    let mut inside_secret = 0usize;
    let mut depth_names: Vec<bool> = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(start)) => {
                let local = start.local_name();
                let secret = is_secret_member(local.into_inner());
                depth_names.push(secret);
                inside_secret += usize::from(secret);
            }
            Ok(Event::End(_)) => {
                if depth_names.pop() == Some(true) {
                    inside_secret -= 1;
                }
            }
            Ok(Event::Text(_)) | Ok(Event::CData(_)) if inside_secret > 0 => {
                let after = reader.buffer_position() as usize;
                if before < after && after <= text.len() {
                    ranges.push(before..after);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_json_and_xml_bodies_lose_every_secret_and_keep_the_rest() {
        let mut redactor = Redactor::default();
        let form = redactor.body(
            Some("application/x-www-form-urlencoded"),
            b"grant_type=password&username=u%40x&password=5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8&client_secret=s3cr3t-value",
        );
        assert_eq!(
            form,
            "grant_type=password&username=u%40x&password=[redacted]&client_secret=[redacted]"
        );
        let json = redactor.body(
            Some("application/json; charset=utf-8"),
            br#"{"access_token":"eyJhbGciOi.abc.def","token_type":"bearer","refresh_token":"r-123456","Password":"pw"}"#,
        );
        assert_eq!(
            json,
            r#"{"access_token":"[redacted]","token_type":"bearer","refresh_token":"[redacted]","Password":"[redacted]"}"#
        );
        let xml = redactor.body(
            Some("application/xml"),
            b"<AccessTokenResponse xmlns=\"urn:x\"><access_token>abc.def.ghi</access_token><expires_in>3600</expires_in></AccessTokenResponse>",
        );
        assert_eq!(
            xml,
            "<AccessTokenResponse xmlns=\"urn:x\"><access_token>[redacted]</access_token><expires_in>3600</expires_in></AccessTokenResponse>"
        );
        // A secret seen in the request is gone from anything else that repeats it.
        let mut echo = "the client s3cr3t-value was refused".to_owned();
        redactor.scrub(&mut echo);
        assert_eq!(echo, "the client [redacted] was refused");
    }

    #[test]
    fn authorization_keeps_its_scheme_and_loses_its_credentials() {
        let mut redactor = Redactor::default();
        let headers = redactor.headers(&[
            (
                "Authorization".to_owned(),
                "Basic ZGVtbzpzZWNyZXQ=".to_owned(),
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
        ]);
        assert_eq!(headers[0].1, "Basic [redacted]");
        assert_eq!(headers[1].1, "application/json");
        let mut text = "ZGVtbzpzZWNyZXQ=".to_owned();
        redactor.scrub(&mut text);
        assert_eq!(text, REDACTED);
    }
}
