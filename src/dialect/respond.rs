//! Writing an answer: how it is written (the profile's fixed JSON, or Web API's content
//! negotiation over the request's headers, remembered per header combination), the body of a
//! grant or of an error-table row, and the headers every answer of the route carries.

use super::outcome::Failure;
use super::profile::ResponseFormat;
use super::render;
use super::route::TokenRoute;
use super::value;
use crate::engine::Grant;
use crate::negotiate;
use crate::wire::{Headers, WireResponse};

impl TokenRoute {
    /// How this request's answer is written: the fixed JSON of the profile, or Web API's
    /// negotiation over the request's `Accept`, `Accept-Charset` and `Content-Type`. `Err`
    /// carries the JSON fallback to write a 406 with, when the route opts into 406.
    pub fn rendering(&self, headers: &dyn Headers) -> Result<Rendering, Rendering> {
        let spec = &self.profile.response;
        match spec.format {
            ResponseFormat::Json => Ok(Rendering {
                format: negotiate::Format::Json,
                content_type: spec.content_type.clone().unwrap_or_default(),
                utf16: false,
            }),
            ResponseFormat::Negotiate => {
                let no_match = if spec.not_acceptable {
                    negotiate::NoMatch::NotAcceptable
                } else {
                    negotiate::NoMatch::FallBackToJson
                };
                let accept = headers.get("accept");
                let accept_charset = headers.get("accept-charset");
                let content_type = headers.get("content-type");
                self.negotiated
                    .get_or_insert([accept, accept_charset, content_type], || {
                        match negotiate::negotiate(accept, accept_charset, content_type, no_match) {
                            Some(chosen) => Ok(Rendering {
                                format: chosen.format,
                                content_type: chosen.content_type(),
                                utf16: chosen.charset == "utf-16",
                            }),
                            None => Err(Rendering {
                                format: negotiate::Format::Json,
                                content_type: "application/json; charset=utf-8".into(),
                                utf16: false,
                            }),
                        }
                    })
            }
        }
    }

    /// Writes a successful grant.
    pub fn render_grant(&self, grant: &Grant, rendering: &Rendering) -> WireResponse {
        let values = value::GrantValues {
            grant,
            expires_in: self.profile.response.expires_in,
        };
        let xml = self.profile.response.xml.as_ref();
        let body = render::body(rendering.format, xml, &self.fields, |source| {
            values.get(source)
        });
        self.response(200, &[], body, rendering)
    }

    /// Writes an error, as this dialect's error table says.
    pub fn render_error(&self, outcome: &Failure, rendering: &Rendering) -> WireResponse {
        let kind = outcome.kind();
        let Some(compiled) = self.errors.get(&kind) else {
            // `compile` refuses a profile without a row for every outcome its route can
            // produce, so this is a gap between `producible` and the code: say so loudly.
            tracing::error!(
                route = self.path(),
                outcome = kind.as_str(),
                "no error row for an outcome this route produced"
            );
            return self.response(500, &[], Vec::new(), rendering);
        };
        let entry = &compiled.entry;
        let values = value::ErrorValues::new(&entry.error, &entry.description, || outcome.detail());
        let (fields, xml) = match &compiled.fields {
            Some(fields) => (fields, entry.xml.as_ref()),
            None => (&self.error_fields, self.profile.error_response.xml.as_ref()),
        };
        let body = render::body(rendering.format, xml, fields, |source| values.get(source));
        if entry.headers.iter().any(|(_, v)| v.contains('{')) {
            let detail = outcome.detail();
            let headers: Vec<_> = entry
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.replace("{detail}", &detail)))
                .collect();
            return self.response(entry.status, &headers, body, rendering);
        }
        self.response(entry.status, &entry.headers, body, rendering)
    }

    fn response(
        &self,
        status: u16,
        extra: &[(String, String)],
        body: Vec<u8>,
        rendering: &Rendering,
    ) -> WireResponse {
        let spec = &self.profile.response;
        let mut headers = Vec::with_capacity(1 + spec.headers.len() + extra.len());
        headers.push(("Content-Type".to_owned(), rendering.content_type.clone()));
        headers.extend(spec.headers.iter().cloned());
        headers.extend(extra.iter().cloned());
        let body = if rendering.utf16 {
            render::utf16(&body)
        } else {
            body
        };
        WireResponse {
            status,
            headers,
            body,
        }
    }
}

/// A route's negotiation outcomes by the request headers they depend on. Clients send the same
/// few combinations again and again, and Web API's algorithm costs about 10 000 instructions
/// (callgrind) where a lookup costs a few hundred. Bounded: once full, or for unusually long
/// headers, results are computed and not kept; nothing is evicted, so a client cycling through
/// made-up headers slows only its own requests.
#[derive(Default)]
pub(super) struct NegotiationMemo(dashmap::DashMap<String, Result<Rendering, Rendering>>);

impl NegotiationMemo {
    const MAX_ENTRIES: usize = 64;
    const MAX_KEY_BYTES: usize = 512;

    fn get_or_insert(
        &self,
        headers: [Option<&str>; 3],
        negotiate: impl FnOnce() -> Result<Rendering, Rendering>,
    ) -> Result<Rendering, Rendering> {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|key| {
            key.clear();
            // `\n` cannot occur in a header value; `-` and `+` tell absent from empty.
            for value in headers {
                match value {
                    None => key.push('-'),
                    Some(value) => {
                        key.push('+');
                        key.push_str(value);
                    }
                }
                key.push('\n');
            }
            if let Some(known) = self.0.get(key.as_str()) {
                return known.clone();
            }
            let outcome = negotiate();
            if key.len() <= Self::MAX_KEY_BYTES && self.0.len() < Self::MAX_ENTRIES {
                self.0.insert(key.clone(), outcome.clone());
            }
            outcome
        })
    }
}

/// How one answer is written: format, `Content-Type`, and whether the body is UTF-16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub format: negotiate::Format,
    pub content_type: String,
    pub utf16: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(content_type: &str) -> Result<Rendering, Rendering> {
        Ok(Rendering {
            format: negotiate::Format::Json,
            content_type: content_type.into(),
            utf16: false,
        })
    }

    #[test]
    fn negotiation_outcomes_are_kept_per_header_combination_up_to_a_bound() {
        let memo = NegotiationMemo::default();
        let calls = std::cell::Cell::new(0);
        let ask = |headers: [Option<&str>; 3], answer: &str| {
            memo.get_or_insert(headers, || {
                calls.set(calls.get() + 1);
                json(answer)
            })
        };
        assert_eq!(ask([Some("a/b"), None, None], "first"), json("first"));
        assert_eq!(ask([Some("a/b"), None, None], "second"), json("first"));
        assert_eq!(calls.get(), 1);
        // Absent and empty are different requests, and so are the same values in other headers.
        assert_eq!(ask([Some(""), None, None], "empty"), json("empty"));
        assert_eq!(ask([None, None, None], "absent"), json("absent"));
        assert_eq!(ask([None, Some("a/b"), None], "charset"), json("charset"));
        assert_eq!(calls.get(), 4);
        for i in 0..2 * NegotiationMemo::MAX_ENTRIES {
            assert_eq!(
                ask([Some(&format!("x/{i}")), None, None], "made up"),
                json("made up")
            );
        }
        assert_eq!(memo.0.len(), NegotiationMemo::MAX_ENTRIES);
        // Known combinations are still answered from the memo; new ones are computed each time.
        let before = calls.get();
        assert_eq!(ask([Some("a/b"), None, None], "third"), json("first"));
        assert_eq!(ask([Some("y/1"), None, None], "fresh"), json("fresh"));
        assert_eq!(
            ask([Some("y/1"), None, None], "fresh again"),
            json("fresh again")
        );
        assert_eq!(calls.get(), before + 2);
        let long = "a/".repeat(NegotiationMemo::MAX_KEY_BYTES);
        let small = NegotiationMemo::default();
        assert_eq!(
            small.get_or_insert([Some(&long), None, None], || json("long")),
            json("long")
        );
        assert_eq!(small.0.len(), 0);
    }
}
