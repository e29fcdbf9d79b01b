//! The last exchanges of each route, redacted, for a test to ask what its client sent and
//! what it got: bounded per route, queryable, clearable.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::redact::Redactor;
use crate::gateway::Outcome;
use crate::wire::WireResponse;

/// One request and its answer, as kept.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub id: u64,
    pub at: String,
    #[serde(skip)]
    pub instant: DateTime<Utc>,
    pub route: String,
    pub method: String,
    pub path: String,
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub request: Message,
    pub response: Answer,
    pub outcome: Recorded,
    /// The fault that made the answer, if one did.
    pub fault: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What the engine made of the request.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub grant: Option<String>,
    pub error: Option<String>,
    pub diagnosis: Option<String>,
}

/// What a request to the gateway was, for [`Capture::record`].
pub struct Seen<'a> {
    pub route: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub at: DateTime<Utc>,
}

/// `GET /exchanges`'s filters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub route: Option<String>,
    pub grant: Option<String>,
    pub client: Option<String>,
    pub username: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only exchanges with a greater id: a poller's cursor, which the clock (moved back by a
    /// test) cannot be.
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Capture {
    per_route: usize,
    next_id: AtomicU64,
    routes: Mutex<HashMap<String, VecDeque<Exchange>>>,
}

impl Capture {
    pub fn new(per_route: usize) -> Self {
        Self {
            per_route,
            next_id: AtomicU64::new(0),
            routes: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.per_route > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Exchange>>> {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps a redacted copy of an exchange, dropping the route's oldest beyond the bound.
    pub fn record(&self, seen: Seen<'_>, response: &WireResponse, outcome: &Outcome) {
        if !self.enabled() {
            return;
        }
        let mut redactor = Redactor::default();
        let request_headers = redactor.headers(&seen.headers);
        let content_type = |headers: &[(String, String)]| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .map(|(_, value)| value.clone())
        };
        let request_body = redactor.body(content_type(&seen.headers).as_deref(), seen.body);
        let response_body =
            redactor.body(content_type(&response.headers).as_deref(), &response.body);
        let mut response_headers = redactor.headers(&response.headers);
        for (_, value) in &mut response_headers {
            redactor.scrub(value);
        }
        let seen_tags = outcome.intercepted.as_deref();
        let dropped = matches!(
            seen_tags.and_then(|seen| seen.fired.as_ref()),
            Some(crate::gateway::Fired {
                action: crate::gateway::Forced::Drop,
                ..
            })
        );
        let tags = seen_tags.map(|seen| &seen.tags);
        let mut diagnosis = outcome.diagnosis.clone();
        if let Some(diagnosis) = &mut diagnosis {
            redactor.scrub(diagnosis);
        }
        let exchange = Exchange {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            at: seen.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            instant: seen.at,
            route: seen.route.to_owned(),
            method: seen.method.to_owned(),
            path: seen.path.to_owned(),
            grant_type: tags
                .and_then(|tags| tags.grant_type)
                .map(|grant| grant.as_str().to_owned()),
            client_id: tags.and_then(|tags| tags.client_id.clone()),
            username: tags.and_then(|tags| tags.username.clone()),
            request: Message {
                headers: request_headers,
                body: request_body,
            },
            // A dropped connection got none of the answer the gateway made.
            response: if dropped {
                Answer {
                    status: 0,
                    headers: Vec::new(),
                    body: String::new(),
                }
            } else {
                Answer {
                    status: response.status,
                    headers: response_headers,
                    body: response_body,
                }
            },
            outcome: Recorded {
                grant: outcome.grant.map(|grant| grant.as_str().to_owned()),
                error: outcome.error.map(|kind| kind.as_str().to_owned()),
                diagnosis,
            },
            fault: seen_tags
                .and_then(|seen| seen.fired.as_ref())
                .map(|fired| fired.fault),
        };
        let mut routes = self.lock();
        let kept = routes.entry(exchange.route.clone()).or_default();
        if kept.len() >= self.per_route {
            kept.pop_front();
        }
        kept.push_back(exchange);
    }

    /// The exchanges `query` asks for, oldest first (the newest `limit` when given).
    pub fn query(&self, query: &Query) -> Vec<Exchange> {
        let routes = self.lock();
        let mut found: Vec<Exchange> = routes
            .iter()
            .filter(|(route, _)| query.route.as_deref().is_none_or(|want| want == *route))
            .flat_map(|(_, kept)| kept.iter())
            .filter(|exchange| {
                query
                    .grant
                    .as_deref()
                    .is_none_or(|want| exchange.grant_type.as_deref() == Some(want))
                    && query
                        .client
                        .as_deref()
                        .is_none_or(|want| exchange.client_id.as_deref() == Some(want))
                    && query.username.as_deref().is_none_or(|want| {
                        exchange
                            .username
                            .as_deref()
                            .is_some_and(|name| name.eq_ignore_ascii_case(want))
                    })
                    && query.since.is_none_or(|since| exchange.instant >= since)
                    && query.after.is_none_or(|after| exchange.id > after)
            })
            .cloned()
            .collect();
        found.sort_by_key(|exchange| exchange.id);
        if let Some(limit) = query.limit
            && found.len() > limit
        {
            found.drain(..found.len() - limit);
        }
        found
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}
