//! Writing an answer: how it is written (the profile's fixed JSON, or Web API's content
//! negotiation over the request's headers, remembered per header combination), the body of a
//! grant or of an error-table row, and the headers every answer of the route carries.

use super::negotiate;
use super::negotiated::Rendering;
use super::outcome::{ErrorKind, Failure};
use super::profile::ResponseFormat;
use super::render;
use super::route::TokenRoute;
use super::value::{self, Echo, Values};
use crate::engine::Grant;
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
            ResponseFormat::Xml => Ok(Rendering {
                format: negotiate::Format::Xml,
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

    /// Writes a successful grant; `echo` is the request as sent (see [`super::request::Parsed`]).
    pub fn render_grant(&self, grant: &Grant, echo: &Echo, rendering: &Rendering) -> WireResponse {
        let values = Values {
            grant: Some(grant),
            error: None,
            echo,
            expires_in: self.profile.response.expires_in,
        };
        let body = render::body(
            rendering.format,
            self.xml.as_ref(),
            &self.fields,
            |source| values.get(source),
        );
        self.response(200, &[], body, rendering)
    }

    /// Writes an error, as this dialect's error table says.
    pub fn render_error(
        &self,
        outcome: &Failure,
        echo: &Echo,
        rendering: &Rendering,
    ) -> WireResponse {
        self.render_row(outcome.kind(), || outcome.detail(), echo, rendering)
    }

    /// The answer of the error-table row `kind`, its `{detail}` filled by `detail` (also for a
    /// row the test kit forces, with no outcome behind it).
    pub fn render_row(
        &self,
        kind: ErrorKind,
        detail: impl Fn() -> String,
        echo: &Echo,
        rendering: &Rendering,
    ) -> WireResponse {
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
        let description = value::describe(&entry.description, &detail, echo);
        let values = Values {
            grant: None,
            error: Some((&entry.error, &description)),
            echo,
            expires_in: self.profile.response.expires_in,
        };
        let (fields, xml) = match &compiled.fields {
            Some(fields) => (fields, compiled.xml.as_ref()),
            None => (&self.error_fields, self.error_xml.as_ref()),
        };
        let body = render::body(rendering.format, xml, fields, |source| values.get(source));
        if entry.headers.iter().any(|(_, v)| v.contains('{')) {
            let detail = detail();
            let headers: Vec<_> = entry
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.replace("{detail}", &detail)))
                .collect();
            return self.response(entry.status, &headers, body, rendering);
        }
        self.response(entry.status, &entry.headers, body, rendering)
    }

    /// The rows of this route's error table, in the table's order of kinds.
    pub fn error_rows(&self) -> Vec<ErrorKind> {
        ErrorKind::ALL
            .iter()
            .copied()
            .filter(|kind| self.errors.contains_key(kind))
            .collect()
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
