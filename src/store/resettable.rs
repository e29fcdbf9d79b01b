//! A store the test kit can empty between tests: it forwards every operation to the store it
//! holds, and `reset` puts a fresh one in its place. Only a gateway with `[control]` builds one,
//! so no other gateway pays for the forwarding.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    AccessRecord, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, SessionId,
    StoreError, Subject, Taken, TokenKey, TokenStore, Usage,
};

/// Opens an empty store of the configured kind.
pub type Open = Box<dyn Fn() -> Result<Arc<dyn TokenStore>, StoreError> + Send + Sync>;

/// See the module docs.
pub struct Resettable {
    current: RwLock<Arc<dyn TokenStore>>,
    open: Open,
}

impl std::fmt::Debug for Resettable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resettable")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl Resettable {
    pub fn new(open: Open) -> Result<Self, StoreError> {
        Ok(Self {
            current: RwLock::new(open()?),
            open,
        })
    }

    fn store(&self) -> Arc<dyn TokenStore> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the store with an empty one. Requests in flight finish against the old one,
    /// which is dropped after them.
    pub fn reset(&self) -> Result<(), StoreError> {
        let fresh = (self.open)()?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

#[async_trait]
impl TokenStore for Resettable {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store().insert_refresh(key, record, now).await
    }

    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        self.store().rotate_refresh(parent, child, now).await
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store().revoke_session(session, until, now).await
    }

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store().is_session_revoked(session, now).await
    }

    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError> {
        self.store().set_not_before(subject, marker).await
    }

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError> {
        self.store().not_before(subject).await
    }

    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        self.store().peek_refresh(key, now).await
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store().insert_access(key, record, now).await
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        self.store().get_access(key, now).await
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store().revoke_access(key, until, now).await
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.store().is_access_revoked(key, now).await
    }

    async fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<FailureWindow>>, StoreError> {
        self.store().failures(keys, now).await
    }

    async fn count_failures(
        &self,
        keys: &[CounterKey],
        window: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureWindow>, StoreError> {
        self.store().count_failures(keys, window, now).await
    }

    async fn clear_failures(&self, key: &CounterKey) -> Result<(), StoreError> {
        self.store().clear_failures(key).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.store().health().await
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        self.store().usage().await
    }

    fn kind(&self) -> &'static str {
        self.store().kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_reset_store_holds_nothing_it_held_before() {
        let store = Resettable::new(Box::new(|| Ok(Arc::new(MemoryStore::default())))).unwrap();
        let subject = Subject {
            user: None,
            client: crate::domain::ClientId::new("c"),
        };
        let marker = NotBefore {
            at: Utc::now(),
            session: SessionId(uuid::Uuid::nil()),
        };
        store.set_not_before(&subject, marker).await.unwrap();
        assert!(store.not_before(&subject).await.unwrap().is_some());
        store.reset().unwrap();
        assert_eq!(store.not_before(&subject).await.unwrap(), None);
    }
}
