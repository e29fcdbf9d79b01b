//! Faults a test sets on a route: for the next N matching requests, or until cleared, the
//! route answers an error row of its own, given bytes, late, slowly, or not at all.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dialect::{ErrorKind, TokenRoute};
use crate::gateway::{Fired, Forced, RequestTags};
use crate::wire::WireResponse;

/// The most faults held at once: a runaway test loop gets an error, not unbounded growth.
pub const MAX_FAULTS: usize = 1000;

/// The longest a delay or a slow body may take: longer would outlast every client's timeout
/// and hold a connection for nothing.
pub const MAX_DELAY_MS: u64 = 120_000;

/// A fault as the control API reads and shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// The route's path.
    pub route: String,
    /// How many matching requests it applies to; absent, until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    #[serde(default, rename = "match")]
    pub matcher: Matcher,
    pub action: Action,
}

/// Which requests a fault applies to: each given member must equal what the request sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Matcher {
    fn matches(&self, tags: &RequestTags) -> bool {
        let grant = tags.grant_type.map(|grant| grant.as_str());
        self.grant_type
            .as_deref()
            .is_none_or(|want| grant == Some(want))
            && self
                .client_id
                .as_deref()
                .is_none_or(|want| tags.client_id.as_deref() == Some(want))
            && self.username.as_deref().is_none_or(|want| {
                tags.username
                    .as_deref()
                    .is_some_and(|sent| sent.to_lowercase() == want.to_lowercase())
            })
    }
}

/// What a fault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// The route's error row `error`; `detail` fills its `{detail}` placeholders.
    Error {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Exactly this status, body and headers.
    Status {
        status: u16,
        #[serde(default)]
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    Delay {
        ms: u64,
    },
    Drop,
    SlowBody {
        ms: u64,
    },
}

/// A fault held, with its id and how often it fired.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Matching requests it has still to apply to; absent, until cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    pub fired: u64,
    #[serde(skip)]
    forced: Forced,
}

/// Why a fault was refused.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("no route serves {0:?} (GET /routes lists them)")]
    UnknownRoute(String),
    #[error("route {route} has no error row {row:?}; its rows: {rows}")]
    UnknownRow {
        route: String,
        row: String,
        rows: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{MAX_FAULTS} faults are set already: clear some first")]
    TooMany,
}

/// Every fault, in the order set; the first that matches a request applies.
#[derive(Debug, Default)]
pub struct Faults {
    list: Mutex<Vec<Fault>>,
    next_id: AtomicU64,
    /// Whether any fault is set: requests skip the lock while none is.
    armed: AtomicBool,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.list
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets a fault on one of `routes`.
    pub fn add(&self, spec: FaultSpec, routes: &[TokenRoute]) -> Result<Fault, FaultError> {
        let route = routes
            .iter()
            .find(|route| route.path() == spec.route)
            .ok_or_else(|| FaultError::UnknownRoute(spec.route.clone()))?;
        if spec.times == Some(0) {
            return Err(FaultError::Invalid(
                "times must be at least 1 (absent: until cleared)".to_owned(),
            ));
        }
        let forced = forced(&spec.action, route)?;
        let mut list = self.lock();
        if list.len() >= MAX_FAULTS {
            return Err(FaultError::TooMany);
        }
        let fault = Fault {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            remaining: spec.times,
            spec,
            fired: 0,
            forced,
        };
        list.push(fault.clone());
        self.armed.store(true, Ordering::Release);
        Ok(fault)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Clears fault `id`; false when there is none.
    pub fn remove(&self, id: u64) -> bool {
        let mut list = self.lock();
        let before = list.len();
        list.retain(|fault| fault.id != id);
        self.armed.store(!list.is_empty(), Ordering::Release);
        list.len() != before
    }

    pub fn clear(&self) {
        self.lock().clear();
        self.armed.store(false, Ordering::Release);
    }

    /// The fault that applies to a request on `route` named by `tags`, counted as used.
    pub fn take(&self, route: &str, tags: &RequestTags) -> Option<Fired> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let mut list = self.lock();
        let at = list
            .iter()
            .position(|fault| fault.spec.route == route && fault.spec.matcher.matches(tags))?;
        let fault = &mut list[at];
        fault.fired += 1;
        let fired = Fired {
            fault: fault.id,
            action: fault.forced.clone(),
        };
        if let Some(remaining) = &mut fault.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                list.remove(at);
            }
        }
        self.armed.store(!list.is_empty(), Ordering::Release);
        Some(fired)
    }
}

fn forced(action: &Action, route: &TokenRoute) -> Result<Forced, FaultError> {
    let within = |ms: u64| {
        if ms > MAX_DELAY_MS {
            Err(FaultError::Invalid(format!(
                "ms must be at most {MAX_DELAY_MS}"
            )))
        } else {
            Ok(Duration::from_millis(ms))
        }
    };
    Ok(match action {
        Action::Error { error, detail } => {
            let rows = route.error_rows();
            match ErrorKind::from_name(error).filter(|kind| rows.contains(kind)) {
                Some(kind) => Forced::Row {
                    kind,
                    detail: detail.clone().unwrap_or_default(),
                },
                None => {
                    return Err(FaultError::UnknownRow {
                        route: route.path().to_owned(),
                        row: error.clone(),
                        rows: rows
                            .iter()
                            .map(|kind| kind.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        Action::Status {
            status,
            body,
            content_type,
            headers,
        } => {
            if !(100..=599).contains(status) {
                return Err(FaultError::Invalid(format!(
                    "status {status} is not an HTTP status (100 to 599)"
                )));
            }
            let mut answer_headers = Vec::new();
            if let Some(content_type) = content_type {
                answer_headers.push(("Content-Type".to_owned(), content_type.clone()));
            }
            for (name, value) in headers {
                let valid = actix_web::http::header::HeaderName::try_from(name.as_str()).is_ok()
                    && actix_web::http::header::HeaderValue::from_str(value).is_ok();
                if !valid {
                    return Err(FaultError::Invalid(format!(
                        "header {name:?} is not a valid header name and value"
                    )));
                }
                answer_headers.push((name.clone(), value.clone()));
            }
            Forced::Answer(WireResponse {
                status: *status,
                headers: answer_headers,
                body: body.clone().into_bytes(),
            })
        }
        Action::Delay { ms } => Forced::Delay(within(*ms)?),
        Action::Drop => Forced::Drop,
        Action::SlowBody { ms } => Forced::SlowBody(within(*ms)?),
    })
}
