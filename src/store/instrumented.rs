//! `/metrics` for whichever store backend is in use: each [`TokenStore`] operation's latency
//! (`tokengate_store_operation_seconds{backend,operation}`) and failures
//! (`tokengate_store_errors_total{backend,operation,error}`, `error` = `full` or
//! `unavailable`), recorded around the backend's own call. The handles are resolved once, so an
//! operation costs two clock reads and one histogram sample beside the backend's work.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use metrics::{Counter, Histogram};

use crate::domain::{
    AccessRecord, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, SessionId,
    StoreError, Subject, Taken, TokenKey, TokenStore, Usage,
};

/// The operations, in [`TokenStore`]'s order; `health` and `usage` serve probes, not requests,
/// and are not timed.
#[derive(Clone, Copy)]
enum Op {
    InsertRefresh,
    RotateRefresh,
    RevokeSession,
    IsSessionRevoked,
    SetNotBefore,
    NotBefore,
    PeekRefresh,
    InsertAccess,
    GetAccess,
    RevokeAccess,
    IsAccessRevoked,
    Failures,
    CountFailures,
    ClearFailures,
}

const OPERATIONS: [&str; 14] = [
    "insert_refresh",
    "rotate_refresh",
    "revoke_session",
    "is_session_revoked",
    "set_not_before",
    "not_before",
    "peek_refresh",
    "insert_access",
    "get_access",
    "revoke_access",
    "is_access_revoked",
    "failures",
    "count_failures",
    "clear_failures",
];

struct Handles {
    seconds: Histogram,
    full: Counter,
    unavailable: Counter,
}

/// See the module docs.
pub struct Instrumented {
    inner: Arc<dyn TokenStore>,
    handles: Vec<Handles>,
}

impl Instrumented {
    pub fn new(inner: Arc<dyn TokenStore>) -> Self {
        let backend = inner.kind();
        let handles = OPERATIONS
            .iter()
            .map(|&operation| {
                let errors = |error: &'static str| {
                    metrics::counter!(
                        "tokengate_store_errors_total",
                        "backend" => backend,
                        "operation" => operation,
                        "error" => error
                    )
                };
                Handles {
                    seconds: metrics::histogram!(
                        "tokengate_store_operation_seconds",
                        "backend" => backend,
                        "operation" => operation
                    ),
                    full: errors("full"),
                    unavailable: errors("unavailable"),
                }
            })
            .collect();
        Self { inner, handles }
    }

    async fn timed<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        let handles = &self.handles[op as usize];
        handles.seconds.record(started.elapsed().as_secs_f64());
        match &result {
            Err(StoreError::Full(_)) => handles.full.increment(1),
            Err(StoreError::Unavailable { .. }) => handles.unavailable.increment(1),
            Ok(_) => {}
        }
        result
    }
}

#[async_trait]
impl TokenStore for Instrumented {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed(
            Op::InsertRefresh,
            self.inner.insert_refresh(key, record, now),
        )
        .await
    }

    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        self.timed(
            Op::RotateRefresh,
            self.inner.rotate_refresh(parent, child, now),
        )
        .await
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed(
            Op::RevokeSession,
            self.inner.revoke_session(session, until, now),
        )
        .await
    }

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.timed(
            Op::IsSessionRevoked,
            self.inner.is_session_revoked(session, now),
        )
        .await
    }

    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError> {
        self.timed(Op::SetNotBefore, self.inner.set_not_before(subject, marker))
            .await
    }

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError> {
        self.timed(Op::NotBefore, self.inner.not_before(subject))
            .await
    }

    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.timed(Op::PeekRefresh, self.inner.peek_refresh(key, now))
            .await
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed(Op::InsertAccess, self.inner.insert_access(key, record, now))
            .await
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        self.timed(Op::GetAccess, self.inner.get_access(key, now))
            .await
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.timed(Op::RevokeAccess, self.inner.revoke_access(key, until, now))
            .await
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.timed(Op::IsAccessRevoked, self.inner.is_access_revoked(key, now))
            .await
    }

    async fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<FailureWindow>>, StoreError> {
        self.timed(Op::Failures, self.inner.failures(keys, now))
            .await
    }

    async fn count_failures(
        &self,
        keys: &[CounterKey],
        window: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureWindow>, StoreError> {
        self.timed(
            Op::CountFailures,
            self.inner.count_failures(keys, window, now),
        )
        .await
    }

    async fn clear_failures(&self, key: &CounterKey) -> Result<(), StoreError> {
        self.timed(Op::ClearFailures, self.inner.clear_failures(key))
            .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        self.inner.usage().await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
