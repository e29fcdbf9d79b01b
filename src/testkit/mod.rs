//! The test kit: what a client team's suite drives the gateway with (issue 15 of the project's
//! history; see `docs/testkit.md`). The gateway's clock under control, faults forced on routes,
//! the exchanges each route saw, and clients, users and stores changed between tests, all
//! through a control API on a listener of its own ([`api`]). Nothing here runs unless
//! `[control]` is configured: a gateway without it has no kit and pays nothing for it.

pub mod api;
pub mod capture;
pub mod faults;
pub mod redact;

use std::sync::Arc;

use crate::dialect::TokenRoute;
use crate::domain::Secret;
use crate::engine::GrantRequest;
use crate::engine::clock::ControlledClock;
use crate::gateway::{Gateway, Intercept, Interception, RequestTags};
use crate::store::resettable::Resettable;

pub use capture::Capture;
pub use faults::Faults;

/// See the module docs.
pub struct TestKit {
    pub clock: Arc<ControlledClock>,
    pub faults: Faults,
    pub capture: Capture,
    /// The store, when it is one the kit can empty (the memory store).
    store: Option<Arc<Resettable>>,
    token: Secret,
    /// `[directory] hash_input`, which users set through the kit are read with.
    pub hash_input: Option<crate::engine::HashInput>,
}

impl std::fmt::Debug for TestKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKit")
            .field("clock", &self.clock)
            .field("resettable_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Why `POST /reset` could not empty the store.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "the {0} store cannot be emptied by the test kit: use [store] kind = \"memory\" for tests"
    )]
    NotResettable(&'static str),
    #[error(transparent)]
    Store(#[from] crate::domain::StoreError),
}

impl TestKit {
    pub fn new(
        clock: Arc<ControlledClock>,
        capture: usize,
        store: Option<Arc<Resettable>>,
        token: Secret,
        hash_input: Option<crate::engine::HashInput>,
    ) -> Self {
        Self {
            clock,
            faults: Faults::default(),
            capture: Capture::new(capture),
            store,
            token,
            hash_input,
        }
    }

    /// Whether `presented` is the control token.
    pub fn authorizes(&self, presented: &str) -> bool {
        self.token.ct_eq(&Secret::new(presented))
    }

    /// Empties the store, puts the configured clients and users back, and clears faults and
    /// exchanges; the clock is left where it is.
    pub fn reset(&self, gateway: &Gateway) -> Result<(), ResetError> {
        match &self.store {
            Some(store) => store.reset()?,
            None => return Err(ResetError::NotResettable(gateway.engine().store_kind())),
        }
        gateway.engine().directory().restore();
        self.faults.clear();
        self.capture.clear();
        Ok(())
    }
}

impl Intercept for TestKit {
    fn intercept(&self, route: &TokenRoute, request: &GrantRequest) -> Interception {
        let tags = RequestTags::of(request);
        let fired = self.faults.take(route.path(), &tags);
        Interception { tags, fired }
    }
}
