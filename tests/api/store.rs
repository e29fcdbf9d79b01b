//! One conformance suite for every `TokenStore` backend: the same test bodies run against the
//! memory, file (redb) and Redis stores, each made fresh per test (a temp file; a key prefix of
//! its own in the test Redis). Time is always an explicit `now`, so expiry is exact.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokengate::domain::{
    AccessRecord, Claims, ClientId, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation,
    Scope, SealedToken, SessionId, StampDigest, StoreError, StoreLimits, Subject, Taken, TokenKey,
    TokenStore, UserId,
};
use tokengate::store::{FileOptions, FileStore, MemoryStore, RedisOptions, RedisStore};

use crate::helpers::{TempDir, redis_available, redis_clear, redis_prefix, redis_url};

/// A store under test and whatever must outlive it.
pub struct Backend {
    pub store: Arc<dyn TokenStore>,
    _dir: Option<TempDir>,
    redis_prefix: Option<String>,
}

impl Backend {
    async fn finish(self) {
        drop(self.store);
        if let Some(prefix) = self.redis_prefix {
            redis_clear(&prefix).await;
        }
    }
}

pub fn memory() -> Backend {
    memory_with(StoreLimits::default())
}

/// The bounds the capacity cases run under: small enough to reach in a test.
const SMALL: StoreLimits = StoreLimits {
    max_tombstones: 50,
    max_sessions_per_user: 10,
    max_sessions_per_client: 20,
};
/// The memory store's entry cap beside [`SMALL`].
const SMALL_MAX_ENTRIES: usize = 1000;

fn memory_with(limits: StoreLimits) -> Backend {
    let max_entries = if limits == StoreLimits::default() {
        tokengate::store::memory::DEFAULT_MAX_ENTRIES
    } else {
        SMALL_MAX_ENTRIES
    };
    Backend {
        store: Arc::new(MemoryStore::new(max_entries).with_limits(limits)),
        _dir: None,
        redis_prefix: None,
    }
}

pub fn file() -> Backend {
    file_with(StoreLimits::default())
}

fn file_with(limits: StoreLimits) -> Backend {
    let dir = TempDir::new("store");
    let store = FileStore::open(&FileOptions {
        path: dir.path().join("tokens.redb"),
    })
    .expect("file store opens")
    .with_limits(limits);
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        redis_prefix: None,
    }
}

/// `None` (after a visible SKIPPED line) when the test Redis is unreachable.
pub async fn redis(test: &str) -> Option<Backend> {
    redis_with(test, StoreLimits::default()).await
}

async fn redis_with(test: &str, limits: StoreLimits) -> Option<Backend> {
    if !redis_available(test).await {
        return None;
    }
    let prefix = redis_prefix();
    let store = RedisStore::new(&RedisOptions {
        url: tokengate::domain::Secret::new(redis_url()),
        key_prefix: prefix.clone(),
        timeout: std::time::Duration::from_secs(2),
    })
    .expect("redis store")
    .with_limits(limits);
    Some(Backend {
        store: Arc::new(store),
        _dir: None,
        redis_prefix: Some(prefix),
    })
}

/// Declares each case once per backend: `store::memory::case`, `store::file::case`,
/// `store::redis::case`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::memory();
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::file();
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = super::redis(concat!("store::redis::", stringify!($case))).await
                    else {
                        return;
                    };
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

/// As [`conformance!`], with each backend under the [`SMALL`] bounds.
macro_rules! capacity {
    ($($case:ident),* $(,)?) => {
        mod memory_capacity {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::memory_with(super::SMALL);
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod file_capacity {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::file_with(super::SMALL);
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
        mod redis_capacity {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let test = concat!("store::redis_capacity::", stringify!($case));
                    let Some(backend) = super::redis_with(test, super::SMALL).await else {
                        return;
                    };
                    super::$case(backend.store.clone()).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

capacity!(
    a_rotation_frees_the_live_slot,
    rotating_one_token_many_times_holds_one_live_token,
    the_tombstone_budget_is_bounded_and_takes_still_succeed,
    a_subject_over_its_quota_loses_its_oldest_sessions,
    another_subject_is_unaffected_by_a_full_quota,
    app_tokens_have_the_client_quota,
    a_rotation_costs_no_quota,
);

conformance!(
    a_token_is_rotated_once_then_recognised_as_reused,
    concurrent_rotations_of_one_token_give_exactly_one_live,
    a_revoked_sessions_token_is_used_up_and_refused,
    records_come_back_exactly,
    expiry_follows_the_callers_clock,
    peek_reads_without_taking,
    unknown_keys_are_unknown,
    session_revocation_holds_until_its_end_and_only_extends,
    not_before_markers_only_move_forward,
    opaque_access_tokens_live_until_exp,
    access_revocation_holds_until_its_end,
    a_rotation_leaves_its_successor_on_the_parent,
    a_rotation_of_a_parent_gone_stores_nothing,
    failure_counters_share_a_window_and_clear,
    failure_windows_end_by_the_callers_clock,
);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_600_000_000, 400_000).expect("valid")
}

fn key(n: u64) -> TokenKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[8] = 0xa5;
    TokenKey(bytes)
}

fn session(n: u128) -> SessionId {
    SessionId(uuid::Uuid::from_u128(n))
}

fn record(session_no: u128, expires_at: DateTime<Utc>) -> RefreshRecord {
    RefreshRecord {
        session: session(session_no),
        client: ClientId::new("demo-client"),
        user: Some(UserId::new("614a1d03-873d-489e-9ab5-fb53b0a0c64f")),
        scope: Some(Scope::new("read write")),
        session_started: expires_at - TimeDelta::hours(1) + TimeDelta::nanoseconds(123),
        expires_at,
        // Odd sessions carry a security stamp, even ones none: every backend keeps both.
        stamp: (session_no % 2 == 1).then(|| StampDigest::of("7e1c9a40-5b2d-4f6e-8a31-stamp")),
    }
}

/// A rotation into the token keyed `key(n)`, expiring at `expires_at`, with `sealed(n)` as the
/// successor its parent's marker keeps.
fn child(n: u64, expires_at: DateTime<Utc>) -> Rotation {
    Rotation {
        key: key(n),
        expires_at,
        successor: Some(sealed(n as u8)),
    }
}

/// Redeems `key(parent)` into a child no test looks at (a key of its own per parent), keeping
/// no successor.
async fn redeem(store: &Arc<dyn TokenStore>, parent: u64, now: DateTime<Utc>) -> Taken {
    let rotation = Rotation {
        key: key(parent + 1_000_000),
        expires_at: now + TimeDelta::hours(3),
        successor: None,
    };
    store
        .rotate_refresh(&key(parent), rotation, now)
        .await
        .expect("rotate")
}

async fn a_token_is_rotated_once_then_recognised_as_reused(store: Arc<dyn TokenStore>) {
    let rec = record(7, t0() + TimeDelta::seconds(10));
    store
        .insert_refresh(key(1), rec.clone(), t0())
        .await
        .expect("insert");
    let rotation = child(2, t0() + TimeDelta::seconds(20));
    assert_eq!(
        store.rotate_refresh(&key(1), rotation, t0()).await,
        Ok(Taken::Live(rec.clone()))
    );
    // The marker says when the token was redeemed (the `now` of the rotation that found it
    // live) and carries the successor at once: no rotation is ever "in flight".
    let replayed = Taken::AlreadyUsed {
        session: rec.session,
        used_at: t0(),
        successor: Some(sealed(2)),
    };
    let again = t0() + TimeDelta::nanoseconds(1_001);
    assert_eq!(
        store
            .rotate_refresh(&key(1), child(3, rec.expires_at), again)
            .await,
        Ok(replayed.clone())
    );
    assert_eq!(
        store.peek_refresh(&key(3), again).await,
        Ok(None),
        "a refused rotation stores no child"
    );
    // The child is an ordinary token of the session: the parent's record, its own expiry.
    let child_record = RefreshRecord {
        expires_at: t0() + TimeDelta::seconds(20),
        ..rec.clone()
    };
    assert_eq!(
        store.peek_refresh(&key(2), again).await,
        Ok(Some(child_record.clone()))
    );
    // A replay stays recognised until the token would have expired, and not after.
    let late = t0() + TimeDelta::milliseconds(9_999);
    assert_eq!(redeem(&store, 1, late).await, replayed);
    let after = t0() + TimeDelta::seconds(10);
    assert_eq!(redeem(&store, 1, after).await, Taken::Unknown);
    // The child outlives its parent and rotates in turn; kept without a successor (a route
    // without reuse grace), its marker has none.
    assert_eq!(
        redeem(&store, 2, after).await,
        Taken::Live(child_record.clone())
    );
    assert_eq!(
        redeem(&store, 2, after).await,
        Taken::AlreadyUsed {
            session: rec.session,
            used_at: after,
            successor: None,
        }
    );
    // A new token under the same key (never in practice) is live again: the newer wins.
    store
        .insert_refresh(key(1), rec.clone(), t0())
        .await
        .expect("insert");
    assert_eq!(redeem(&store, 1, t0()).await, Taken::Live(rec));
}

/// Of N rotations of one parent at once, exactly one is live and stores its child; every
/// other finds the marker with the winner's successor, and stores nothing.
async fn concurrent_rotations_of_one_token_give_exactly_one_live(store: Arc<dyn TokenStore>) {
    const TRIALS: u64 = 400;
    const RACERS: u64 = 4;
    // Trials run 10 at a time: each trial's rotations race each other (and the other trials).
    const WAVE: u64 = 10;
    let expires = t0() + TimeDelta::hours(1);
    for wave in 0..TRIALS / WAVE {
        let mut trials = Vec::new();
        for i in wave * WAVE..(wave + 1) * WAVE {
            let store = store.clone();
            trials.push(tokio::spawn(async move {
                let parent = 100_000 + i * 10;
                let rec = record(u128::from(i), expires);
                store
                    .insert_refresh(key(parent), rec.clone(), t0())
                    .await
                    .expect("insert");
                let racers: Vec<_> = (1..=RACERS)
                    .map(|n| {
                        let store = store.clone();
                        let rotation = child(parent + n, expires);
                        tokio::spawn(async move {
                            store.rotate_refresh(&key(parent), rotation, t0()).await
                        })
                    })
                    .collect();
                let mut outcomes = Vec::new();
                for racer in racers {
                    outcomes.push(racer.await.expect("task").expect("rotate"));
                }
                let winners: Vec<u64> = (1..=RACERS)
                    .filter(|&n| matches!(&outcomes[n as usize - 1], Taken::Live(r) if *r == rec))
                    .collect();
                assert_eq!(winners.len(), 1, "trial {i}: {outcomes:?}");
                let winner = parent + winners[0];
                let marker = Taken::AlreadyUsed {
                    session: rec.session,
                    used_at: t0(),
                    successor: Some(sealed(winner as u8)),
                };
                let reused = outcomes.iter().filter(|o| **o == marker).count();
                assert_eq!(reused as u64, RACERS - 1, "trial {i}: {outcomes:?}");
                for n in 1..=RACERS {
                    let stored = store.peek_refresh(&key(parent + n), t0()).await;
                    assert_eq!(
                        stored.expect("peek").is_some(),
                        parent + n == winner,
                        "trial {i}: only the winner's child is stored"
                    );
                }
            }));
        }
        for trial in trials {
            trial.await.expect("trial");
        }
    }
}

async fn a_revoked_sessions_token_is_used_up_and_refused(store: Arc<dyn TokenStore>) {
    let rec = record(21, t0() + TimeDelta::hours(1));
    store
        .insert_refresh(key(21), rec.clone(), t0())
        .await
        .expect("insert");
    store
        .revoke_session(rec.session, t0() + TimeDelta::seconds(10), t0())
        .await
        .expect("revoke");
    assert_eq!(
        store
            .rotate_refresh(&key(21), child(23, rec.expires_at), t0())
            .await,
        Ok(Taken::SessionRevoked {
            session: rec.session
        })
    );
    assert_eq!(
        store.peek_refresh(&key(23), t0()).await,
        Ok(None),
        "no child"
    );
    assert_eq!(
        redeem(&store, 21, t0()).await,
        Taken::AlreadyUsed {
            session: rec.session,
            used_at: t0(),
            successor: None,
        },
        "the rotation used it up"
    );
    // Once the revocation is over, the session's tokens are live again.
    store
        .insert_refresh(key(22), rec.clone(), t0())
        .await
        .expect("insert");
    let later = t0() + TimeDelta::seconds(10);
    assert_eq!(redeem(&store, 22, later).await, Taken::Live(rec));
}

async fn records_come_back_exactly(store: Arc<dyn TokenStore>) {
    let expires = DateTime::from_timestamp(1_600_000_100, 999_999_999).expect("valid");
    let variants = [
        record(1, expires),
        RefreshRecord {
            user: None,
            scope: None,
            ..record(2, expires)
        },
        RefreshRecord {
            client: ClientId::new("клиент with spaces & ünïcode"),
            scope: Some(Scope::new("s".repeat(3_000))),
            ..record(3, expires)
        },
    ];
    for (i, rec) in variants.iter().enumerate() {
        let k = key(100 + i as u64);
        store
            .insert_refresh(k, rec.clone(), t0())
            .await
            .expect("insert");
        assert_eq!(store.peek_refresh(&k, t0()).await, Ok(Some(rec.clone())));
        let rotation = child(200 + i as u64, t0() + TimeDelta::hours(2));
        assert_eq!(
            store.rotate_refresh(&k, rotation, t0()).await,
            Ok(Taken::Live(rec.clone()))
        );
        // The child carries every field of the parent's record but its expiry.
        assert_eq!(
            store.peek_refresh(&key(200 + i as u64), t0()).await,
            Ok(Some(RefreshRecord {
                expires_at: t0() + TimeDelta::hours(2),
                ..rec.clone()
            }))
        );
    }
}

async fn expiry_follows_the_callers_clock(store: Arc<dyn TokenStore>) {
    let expires = t0() + TimeDelta::seconds(10);
    store
        .insert_refresh(key(1), record(1, expires), t0())
        .await
        .expect("insert");
    // At its expiry instant the token is gone, and asking does not use it up...
    assert_eq!(redeem(&store, 1, expires).await, Taken::Unknown);
    assert_eq!(store.peek_refresh(&key(1), expires).await, Ok(None));
    // ...so a caller whose clock is a nanosecond earlier still takes it.
    let just_before = expires - TimeDelta::nanoseconds(1);
    assert!(matches!(
        redeem(&store, 1, just_before).await,
        Taken::Live(_)
    ));
    // A token inserted already expired is never live.
    store
        .insert_refresh(key(2), record(2, t0()), t0())
        .await
        .expect("insert");
    assert_eq!(redeem(&store, 2, t0()).await, Taken::Unknown);
    // Later inserts retire expired items as they go (each backend its own way); whatever they
    // retire, live tokens stay.
    let later = t0() + TimeDelta::hours(2);
    for i in 10..60 {
        store
            .insert_refresh(key(i), record(i.into(), later + TimeDelta::hours(1)), later)
            .await
            .expect("insert");
    }
    for i in 10..60 {
        assert!(
            store
                .peek_refresh(&key(i), later)
                .await
                .expect("peek")
                .is_some(),
            "token {i}"
        );
    }
    assert_eq!(redeem(&store, 1, later).await, Taken::Unknown);
}

async fn peek_reads_without_taking(store: Arc<dyn TokenStore>) {
    let rec = record(5, t0() + TimeDelta::seconds(30));
    store
        .insert_refresh(key(5), rec.clone(), t0())
        .await
        .expect("insert");
    for _ in 0..3 {
        assert_eq!(
            store.peek_refresh(&key(5), t0()).await,
            Ok(Some(rec.clone()))
        );
    }
    assert_eq!(redeem(&store, 5, t0()).await, Taken::Live(rec));
    assert_eq!(store.peek_refresh(&key(5), t0()).await, Ok(None), "used");
}

async fn unknown_keys_are_unknown(store: Arc<dyn TokenStore>) {
    assert_eq!(redeem(&store, 404, t0()).await, Taken::Unknown);
    assert_eq!(store.peek_refresh(&key(404), t0()).await, Ok(None));
    assert_eq!(
        store.peek_refresh(&key(1_000_404), t0()).await,
        Ok(None),
        "a rotation of an unknown token stores no child"
    );
    assert_eq!(
        store.is_session_revoked(session(404), t0()).await,
        Ok(false)
    );
    assert_eq!(store.get_access(&key(404), t0()).await, Ok(None));
    assert_eq!(store.is_access_revoked(&key(404), t0()).await, Ok(false));
    let nobody = Subject {
        user: None,
        client: ClientId::new("nobody"),
    };
    assert_eq!(store.not_before(&nobody).await, Ok(None));
    assert_eq!(store.health().await, Ok(()));
}

async fn session_revocation_holds_until_its_end_and_only_extends(store: Arc<dyn TokenStore>) {
    let s = session(9);
    let until = t0() + TimeDelta::seconds(10);
    store.revoke_session(s, until, t0()).await.expect("revoke");
    assert_eq!(store.is_session_revoked(s, t0()).await, Ok(true));
    assert_eq!(
        store
            .is_session_revoked(s, until - TimeDelta::nanoseconds(1))
            .await,
        Ok(true)
    );
    assert_eq!(store.is_session_revoked(s, until).await, Ok(false));
    assert_eq!(store.is_session_revoked(session(10), t0()).await, Ok(false));
    // A shorter revocation never shortens a longer one; a longer one extends it.
    store
        .revoke_session(s, t0() + TimeDelta::seconds(5), t0())
        .await
        .expect("revoke");
    assert_eq!(
        store
            .is_session_revoked(s, t0() + TimeDelta::seconds(7))
            .await,
        Ok(true)
    );
    let longer = t0() + TimeDelta::seconds(20);
    store.revoke_session(s, longer, t0()).await.expect("revoke");
    assert_eq!(store.is_session_revoked(s, until).await, Ok(true));
    assert_eq!(store.is_session_revoked(s, longer).await, Ok(false));
    // A revocation already over is no revocation.
    store
        .revoke_session(session(11), t0(), t0())
        .await
        .expect("revoke");
    assert_eq!(store.is_session_revoked(session(11), t0()).await, Ok(false));
}

async fn not_before_markers_only_move_forward(store: Arc<dyn TokenStore>) {
    let user = Subject {
        user: Some(UserId::new("614a1d03-873d-489e-9ab5-fb53b0a0c64f")),
        client: ClientId::new("demo-client"),
    };
    let app = Subject {
        user: None,
        client: ClientId::new("demo-client"),
    };
    let marker = |secs: i64, nanos: u32, s: u128| NotBefore {
        at: DateTime::from_timestamp(1_600_000_000 + secs, nanos).expect("valid"),
        session: session(s),
    };
    store
        .set_not_before(&user, marker(10, 5, 1))
        .await
        .expect("set");
    assert_eq!(store.not_before(&user).await, Ok(Some(marker(10, 5, 1))));
    assert_eq!(store.not_before(&app).await, Ok(None), "subjects are apart");
    // An earlier login's marker arriving late does not move it back, even by a nanosecond.
    store
        .set_not_before(&user, marker(10, 4, 2))
        .await
        .expect("set");
    store
        .set_not_before(&user, marker(3, 0, 3))
        .await
        .expect("set");
    assert_eq!(store.not_before(&user).await, Ok(Some(marker(10, 5, 1))));
    // The same instant (a second login in the same nanosecond) or a later one replaces it.
    store
        .set_not_before(&user, marker(10, 5, 4))
        .await
        .expect("set");
    assert_eq!(store.not_before(&user).await, Ok(Some(marker(10, 5, 4))));
    store
        .set_not_before(&user, marker(11, 0, 5))
        .await
        .expect("set");
    assert_eq!(store.not_before(&user).await, Ok(Some(marker(11, 0, 5))));
    store
        .set_not_before(&app, marker(1, 0, 6))
        .await
        .expect("set");
    assert_eq!(store.not_before(&app).await, Ok(Some(marker(1, 0, 6))));
    assert_eq!(store.not_before(&user).await, Ok(Some(marker(11, 0, 5))));
}

fn claims(exp: i64) -> Claims {
    Claims {
        iss: "tokengate".into(),
        sub: "614a1d03-873d-489e-9ab5-fb53b0a0c64f".into(),
        aud: None,
        iat: exp - 60,
        nbf: exp - 60,
        exp,
        jti: "5b0f5d0e-0000-4000-8000-000000000001".into(),
        client_id: "demo-client".into(),
        scope: Some("read".into()),
        sid: session(3).to_string(),
        name: Some("user@example.com".into()),
        role: Some("Administrator".into()),
    }
}

async fn opaque_access_tokens_live_until_exp(store: Arc<dyn TokenStore>) {
    let exp = t0().timestamp() + 60;
    let record = AccessRecord {
        claims: claims(exp),
    };
    store
        .insert_access(key(7), record.clone(), t0())
        .await
        .expect("insert");
    assert_eq!(
        store.get_access(&key(7), t0()).await,
        Ok(Some(record.clone()))
    );
    let last = DateTime::from_timestamp(exp - 1, 999_999_999).expect("valid");
    assert_eq!(store.get_access(&key(7), last).await, Ok(Some(record)));
    let at_exp = DateTime::from_timestamp(exp, 0).expect("valid");
    assert_eq!(store.get_access(&key(7), at_exp).await, Ok(None));
    // Access and refresh tokens are apart even under one key.
    assert_eq!(store.peek_refresh(&key(7), t0()).await, Ok(None));
}

async fn access_revocation_holds_until_its_end(store: Arc<dyn TokenStore>) {
    let until = t0() + TimeDelta::seconds(30);
    store
        .revoke_access(key(8), until, t0())
        .await
        .expect("revoke");
    assert_eq!(store.is_access_revoked(&key(8), t0()).await, Ok(true));
    assert_eq!(store.is_access_revoked(&key(8), until).await, Ok(false));
    assert_eq!(store.is_access_revoked(&key(9), t0()).await, Ok(false));
    store
        .revoke_access(key(10), t0(), t0())
        .await
        .expect("revoke");
    assert_eq!(store.is_access_revoked(&key(10), t0()).await, Ok(false));
}

/// A sealed successor as the engine makes one: about 100 opaque bytes, not text.
fn sealed(n: u8) -> SealedToken {
    SealedToken(
        (0..100u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(n))
            .collect(),
    )
}

async fn a_rotation_leaves_its_successor_on_the_parent(store: Arc<dyn TokenStore>) {
    let parent = record(31, t0() + TimeDelta::hours(1));
    store
        .insert_refresh(key(31), parent.clone(), t0())
        .await
        .expect("insert");
    let child_record = RefreshRecord {
        expires_at: t0() + TimeDelta::hours(2),
        ..parent.clone()
    };
    assert_eq!(
        store
            .rotate_refresh(&key(31), child(32, child_record.expires_at), t0())
            .await,
        Ok(Taken::Live(parent.clone()))
    );
    let retry = t0() + TimeDelta::seconds(2);
    let with_successor = Taken::AlreadyUsed {
        session: parent.session,
        used_at: t0(),
        successor: Some(sealed(32)),
    };
    assert_eq!(redeem(&store, 31, retry).await, with_successor);
    assert_eq!(
        redeem(&store, 31, retry).await,
        with_successor,
        "reporting it does not use it up"
    );
    assert_eq!(store.peek_refresh(&key(31), retry).await, Ok(None));
    assert_eq!(
        store.peek_refresh(&key(32), retry).await,
        Ok(Some(child_record))
    );
    // The marker and its successor leave when the parent would have expired.
    assert_eq!(redeem(&store, 31, parent.expires_at).await, Taken::Unknown);
}

async fn a_rotation_of_a_parent_gone_stores_nothing(store: Arc<dyn TokenStore>) {
    let expires = t0() + TimeDelta::hours(1);
    assert_eq!(
        store
            .rotate_refresh(&key(404), child(41, expires), t0())
            .await,
        Ok(Taken::Unknown)
    );
    assert_eq!(store.peek_refresh(&key(41), t0()).await, Ok(None));
    // A parent expired by the caller's clock: unknown, and no child either.
    let parent = record(42, t0() + TimeDelta::seconds(10));
    store
        .insert_refresh(key(42), parent.clone(), t0())
        .await
        .expect("insert");
    let late = parent.expires_at;
    assert_eq!(
        store
            .rotate_refresh(&key(42), child(43, expires), late)
            .await,
        Ok(Taken::Unknown)
    );
    assert_eq!(store.peek_refresh(&key(43), late).await, Ok(None));
}

/// A rotation into a full store (the memory store at its cap) takes its parent's place: the
/// child is stored and the parent becomes a tombstone in the same step, so a client refreshing
/// at the cap is answered, never refused and then taken for a replay; a new session is what the
/// cap refuses.
#[tokio::test]
async fn a_rotation_into_a_full_store_takes_its_parents_slot() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new(2));
    let rec = record(61, t0() + TimeDelta::hours(1));
    store
        .insert_refresh(key(61), rec.clone(), t0())
        .await
        .expect("insert");
    // Another user's token fills the store.
    let other = RefreshRecord {
        user: Some(UserId::new("another-user")),
        ..record(63, t0() + TimeDelta::hours(1))
    };
    store
        .insert_refresh(key(63), other.clone(), t0())
        .await
        .expect("insert");
    assert_eq!(
        store
            .rotate_refresh(&key(61), child(62, rec.expires_at), t0())
            .await,
        Ok(Taken::Live(rec.clone()))
    );
    assert_eq!(store.peek_refresh(&key(61), t0()).await, Ok(None));
    assert!(
        store
            .peek_refresh(&key(62), t0())
            .await
            .expect("peek")
            .is_some()
    );
    assert!(matches!(
        redeem(&store, 61, t0()).await,
        Taken::AlreadyUsed { successor: Some(s), .. } if s == sealed(62)
    ));
    let usage = store.usage().await.expect("usage");
    assert_eq!((usage.entries, usage.tombstones), (Some(2), Some(1)));
    let newcomer = RefreshRecord {
        user: Some(UserId::new("newcomer")),
        ..other
    };
    assert_eq!(
        store.insert_refresh(key(64), newcomer, t0()).await,
        Err(StoreError::Full(2))
    );
}

fn counter(n: u8) -> CounterKey {
    CounterKey([n; 32])
}

fn window(failures: u32, ends_at: DateTime<Utc>) -> FailureWindow {
    FailureWindow { failures, ends_at }
}

async fn failure_counters_share_a_window_and_clear(store: Arc<dyn TokenStore>) {
    let (user, address) = (counter(1), counter(2));
    let length = TimeDelta::minutes(5);
    let ends = t0() + length;
    assert_eq!(
        store.failures(&[user, address], t0()).await,
        Ok(vec![None, None])
    );
    assert_eq!(
        store.count_failures(&[user, address], length, t0()).await,
        Ok(vec![window(1, ends), window(1, ends)])
    );
    // Later failures join the window the first one started, whatever length they ask for.
    let later = t0() + TimeDelta::minutes(1);
    assert_eq!(
        store.count_failures(&[user], length, later).await,
        Ok(vec![window(2, ends)])
    );
    assert_eq!(
        store
            .count_failures(&[address, user], TimeDelta::hours(1), later)
            .await,
        Ok(vec![window(2, ends), window(3, ends)])
    );
    assert_eq!(
        store.failures(&[address, counter(3), user], later).await,
        Ok(vec![Some(window(2, ends)), None, Some(window(3, ends))])
    );
    // A successful sign-in clears the user's counter, not the address's.
    store.clear_failures(&user).await.expect("clear");
    assert_eq!(
        store.failures(&[user, address], later).await,
        Ok(vec![None, Some(window(2, ends))])
    );
    assert_eq!(
        store.count_failures(&[user], length, later).await,
        Ok(vec![window(1, later + length)])
    );
    store
        .clear_failures(&counter(9))
        .await
        .expect("clearing nothing");
    assert_eq!(store.failures(&[], later).await, Ok(vec![]));
    assert_eq!(store.count_failures(&[], length, later).await, Ok(vec![]));
}

async fn failure_windows_end_by_the_callers_clock(store: Arc<dyn TokenStore>) {
    let user = counter(4);
    let length = TimeDelta::seconds(30);
    let ends = t0() + length;
    store
        .count_failures(&[user], length, t0())
        .await
        .expect("count");
    // At its end the window is gone, and asking does not forget it for an earlier clock.
    assert_eq!(store.failures(&[user], ends).await, Ok(vec![None]));
    let just_before = ends - TimeDelta::nanoseconds(1);
    assert_eq!(
        store.failures(&[user], just_before).await,
        Ok(vec![Some(window(1, ends))])
    );
    assert_eq!(
        store.count_failures(&[user], length, just_before).await,
        Ok(vec![window(2, ends)])
    );
    // A failure at or after the end starts a new window at one.
    assert_eq!(
        store.count_failures(&[user], length, ends).await,
        Ok(vec![window(1, ends + length)])
    );
    assert_eq!(
        store.failures(&[user], ends + TimeDelta::seconds(1)).await,
        Ok(vec![Some(window(1, ends + length))])
    );
}

/// The in-process counters (memory and file stores) stay under their cap: expired windows make
/// room, live ones do not, and a new counter that finds no room is answered uncounted. Tokens
/// and counters have budgets of their own.
async fn in_process_counters_hold_their_cap(store: Arc<dyn TokenStore>) {
    let length = TimeDelta::seconds(10);
    let ends = t0() + length;
    assert_eq!(
        store
            .count_failures(&[counter(1), counter(2)], length, t0())
            .await,
        Ok(vec![window(1, ends), window(1, ends)])
    );
    let later = t0() + TimeDelta::seconds(1);
    assert_eq!(
        store
            .count_failures(&[counter(3), counter(1)], length, later)
            .await,
        Ok(vec![window(0, later + length), window(2, ends)]),
        "full of live windows: the new counter is not counted, the known one is"
    );
    assert_eq!(store.failures(&[counter(3)], later).await, Ok(vec![None]));
    // Once the windows have ended, a new counter takes a slot.
    assert_eq!(
        store.count_failures(&[counter(3)], length, ends).await,
        Ok(vec![window(1, ends + length)])
    );
    // The one token slot is still free, and counters still count once it is taken.
    let rec = record(1, t0() + TimeDelta::hours(1));
    store
        .insert_refresh(key(1), rec.clone(), t0())
        .await
        .expect("counters take no token slot");
    assert!(store.insert_refresh(key(2), rec, t0()).await.is_err());
    assert_eq!(
        store.count_failures(&[counter(3)], length, ends).await,
        Ok(vec![window(2, ends + length)])
    );
}

#[tokio::test]
async fn the_memory_stores_counters_hold_their_cap() {
    let store = MemoryStore::new(1).with_max_counters(2);
    in_process_counters_hold_their_cap(Arc::new(store)).await;
}

#[tokio::test]
async fn the_file_stores_counters_hold_their_cap() {
    let dir = TempDir::new("counters");
    let store = FileStore::open(&FileOptions {
        path: dir.path().join("tokens.redb"),
    })
    .expect("opens")
    .with_max_counters(2);
    let length = TimeDelta::seconds(10);
    store
        .count_failures(&[counter(1), counter(2)], length, t0())
        .await
        .expect("count");
    assert_eq!(
        store.count_failures(&[counter(3)], length, t0()).await,
        Ok(vec![window(0, t0() + length)])
    );
    assert_eq!(
        store
            .count_failures(&[counter(3)], length, t0() + length)
            .await,
        Ok(vec![window(1, t0() + length + length)])
    );
}

/// Gateways on one Redis count into the same windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_share_counters() {
    let Some(first) = redis("store::two_gateways_on_one_redis_share_counters").await else {
        return;
    };
    let prefix = first.redis_prefix.clone().expect("a redis backend");
    let second = RedisStore::new(&RedisOptions {
        url: tokengate::domain::Secret::new(redis_url()),
        key_prefix: prefix,
        timeout: std::time::Duration::from_secs(2),
    })
    .expect("redis store");
    let (user, address) = (counter(5), counter(6));
    let length = TimeDelta::minutes(5);
    let ends = t0() + length;
    first
        .store
        .count_failures(&[user, address], length, t0())
        .await
        .expect("count");
    let later = t0() + TimeDelta::seconds(1);
    assert_eq!(
        second.count_failures(&[user, address], length, later).await,
        Ok(vec![window(2, ends), window(2, ends)])
    );
    assert_eq!(
        first.store.failures(&[user], later).await,
        Ok(vec![Some(window(2, ends))])
    );
    second.clear_failures(&user).await.expect("clear");
    assert_eq!(
        first.store.failures(&[user, address], later).await,
        Ok(vec![None, Some(window(2, ends))])
    );
    // A rotation stored through one is seen through the other.
    let rec = record(51, t0() + TimeDelta::hours(1));
    first
        .store
        .insert_refresh(key(51), rec.clone(), t0())
        .await
        .expect("insert");
    assert!(matches!(
        second
            .rotate_refresh(&key(51), child(52, rec.expires_at), t0())
            .await,
        Ok(Taken::Live(_))
    ));
    assert_eq!(
        redeem(&first.store, 51, later).await,
        Taken::AlreadyUsed {
            session: rec.session,
            used_at: t0(),
            successor: Some(sealed(52)),
        }
    );
    assert_eq!(
        first.store.peek_refresh(&key(52), later).await,
        Ok(Some(rec.clone()))
    );
    drop(second);
    first.finish().await;
}

/// The file store's own promise: what was written is there after the process lets go of the
/// file and opens it again.
#[tokio::test]
async fn the_file_store_keeps_everything_across_a_reopen() {
    let dir = TempDir::new("reopen");
    let options = FileOptions {
        path: dir.path().join("tokens.redb"),
    };
    let rec = record(1, t0() + TimeDelta::hours(1));
    let user = Subject {
        user: Some(UserId::new("u")),
        client: ClientId::new("c"),
    };
    let marker = NotBefore {
        at: t0(),
        session: session(1),
    };
    {
        let store = FileStore::open(&options).expect("opens");
        store
            .insert_refresh(key(1), rec.clone(), t0())
            .await
            .expect("insert");
        store
            .insert_refresh(key(2), rec.clone(), t0())
            .await
            .expect("insert");
        assert!(matches!(
            store
                .rotate_refresh(&key(2), child(3, rec.expires_at), t0())
                .await,
            Ok(Taken::Live(_))
        ));
        store
            .revoke_session(session(2), t0() + TimeDelta::hours(1), t0())
            .await
            .expect("revoke");
        store.set_not_before(&user, marker).await.expect("marker");
        store
            .count_failures(&[counter(1)], TimeDelta::hours(1), t0())
            .await
            .expect("count");
    }
    // Dropping the store closed the file.
    let store: Arc<dyn TokenStore> = Arc::new(FileStore::open(&options).expect("reopens"));
    assert_eq!(redeem(&store, 1, t0()).await, Taken::Live(rec.clone()));
    assert_eq!(
        redeem(&store, 2, t0()).await,
        Taken::AlreadyUsed {
            session: rec.session,
            used_at: t0(),
            successor: Some(sealed(3)),
        }
    );
    assert_eq!(redeem(&store, 3, t0()).await, Taken::Live(rec.clone()));
    assert_eq!(store.is_session_revoked(session(2), t0()).await, Ok(true));
    assert_eq!(store.not_before(&user).await, Ok(Some(marker)));
    // Counters are the exception, as documented: a restart forgets them.
    assert_eq!(store.failures(&[counter(1)], t0()).await, Ok(vec![None]));
}

/// A second process (or store) cannot open a file that one has open: two writers would
/// break the atomic take.
#[test]
fn the_file_store_refuses_a_file_already_open() {
    let dir = TempDir::new("locked");
    let options = FileOptions {
        path: dir.path().join("tokens.redb"),
    };
    let _first = FileStore::open(&options).expect("opens");
    let second = FileStore::open(&options).expect_err("already open");
    assert!(second.to_string().contains("cannot open"), "{second}");
}

// Capacity (issue 13): a used token frees its live slot, markers stay within their budget, and
// one subject's sessions are bounded by its quota without touching anyone else's.

fn user_record(user: &str, session_no: u128, expires_at: DateTime<Utc>) -> RefreshRecord {
    RefreshRecord {
        user: Some(UserId::new(user)),
        ..record(session_no, expires_at)
    }
}

fn app_record(client: &str, session_no: u128, expires_at: DateTime<Utc>) -> RefreshRecord {
    RefreshRecord {
        client: ClientId::new(client),
        user: None,
        ..record(session_no, expires_at)
    }
}

/// One redemption of a live parent into `child`, keeping a successor as a grace route does.
async fn rotate(store: &dyn TokenStore, parent: TokenKey, child: TokenKey, at: DateTime<Utc>) {
    let rotation = Rotation {
        key: child,
        expires_at: at + TimeDelta::hours(1),
        successor: Some(sealed(1)),
    };
    assert!(
        matches!(
            store.rotate_refresh(&parent, rotation, at).await,
            Ok(Taken::Live(_))
        ),
        "the parent is live"
    );
}

async fn a_rotation_frees_the_live_slot(store: Arc<dyn TokenStore>) {
    store
        .insert_refresh(key(1), record(1, t0() + TimeDelta::hours(1)), t0())
        .await
        .expect("insert");
    let before = store.usage().await.expect("usage");
    assert!(matches!(redeem(&store, 1, t0()).await, Taken::Live(_)));
    let after = store.usage().await.expect("usage");
    if let (Some(live_before), Some(live_after)) = (before.entries, after.entries) {
        assert_eq!(
            (live_before, live_after),
            (1, 1),
            "the child took the parent's live slot; the parent holds none"
        );
    }
    assert_eq!(after.tombstones, Some(1), "and left one tombstone");
    assert_eq!(after.max_tombstones, Some(SMALL.max_tombstones as u64));
    // The marker still catches a replay.
    assert!(matches!(
        redeem(&store, 1, t0()).await,
        Taken::AlreadyUsed { .. }
    ));
}

async fn rotating_one_token_many_times_holds_one_live_token(store: Arc<dyn TokenStore>) {
    // Four times the tombstone budget; 10 000 on the memory store is `one_caller_...` below.
    let rotations = 4 * SMALL.max_tombstones as u64;
    store
        .insert_refresh(key(0), record(1, t0() + TimeDelta::hours(1)), t0())
        .await
        .expect("insert");
    for n in 0..rotations {
        let at = t0() + TimeDelta::milliseconds(n as i64);
        rotate(&*store, key(n), key(n + 1), at).await;
    }
    let usage = store.usage().await.expect("usage");
    if let Some(live) = usage.entries {
        assert_eq!(live, 1, "one live token after {rotations} rotations");
    }
    let tombstones = usage.tombstones.expect("counted");
    assert!(
        tombstones <= SMALL.max_tombstones as u64,
        "{tombstones} tombstones over a budget of {}",
        SMALL.max_tombstones
    );
    let last = t0() + TimeDelta::seconds(1);
    assert!(matches!(
        redeem(&store, rotations, last).await,
        Taken::Live(_)
    ));
}

async fn the_tombstone_budget_is_bounded_and_takes_still_succeed(store: Arc<dyn TokenStore>) {
    let budget = SMALL.max_tombstones as u64;
    // Sessions of many users, so that no quota is involved.
    for n in 0..budget + 30 {
        let rec = user_record(
            &format!("user-{n}"),
            u128::from(n),
            t0() + TimeDelta::hours(1),
        );
        store
            .insert_refresh(key(n), rec, t0())
            .await
            .expect("insert");
    }
    for n in 0..budget + 30 {
        assert!(
            matches!(redeem(&store, n, t0()).await, Taken::Live(_)),
            "redemption {n} succeeds whatever the budget"
        );
    }
    let usage = store.usage().await.expect("usage");
    assert_eq!(usage.tombstones, Some(budget), "the budget holds");
    // The first takes kept their markers; those past the budget kept none, so their replay
    // is refused as unknown rather than recognised (degraded, never refused at sign-in).
    assert!(matches!(
        redeem(&store, 0, t0()).await,
        Taken::AlreadyUsed { .. }
    ));
    assert_eq!(redeem(&store, budget + 29, t0()).await, Taken::Unknown);
    // New sign-ins go on.
    store
        .insert_refresh(key(9999), record(9999, t0() + TimeDelta::hours(1)), t0())
        .await
        .expect("a sign-in is never refused for tombstones");
}

async fn a_subject_over_its_quota_loses_its_oldest_sessions(store: Arc<dyn TokenStore>) {
    let quota = SMALL.max_sessions_per_user as u64;
    for n in 0..quota + 5 {
        // Each later sign-in expires later, as each is issued later.
        let at = t0() + TimeDelta::seconds(n as i64);
        let rec = user_record("heavy", u128::from(n), at + TimeDelta::hours(1));
        store
            .insert_refresh(key(n), rec, at)
            .await
            .expect("a sign-in over the quota is never refused");
    }
    let now = t0() + TimeDelta::seconds(60);
    for n in 0..quota + 5 {
        let held = store.peek_refresh(&key(n), now).await.expect("peek");
        if n < 5 {
            assert_eq!(held, None, "session {n}, among the oldest, was dropped");
        } else {
            assert!(held.is_some(), "session {n} is kept");
        }
    }
    // A dropped session's token is unknown: refused, and no replay revokes anything.
    assert_eq!(redeem(&store, 0, now).await, Taken::Unknown);
    let usage = store.usage().await.expect("usage");
    if let Some(live) = usage.entries {
        assert_eq!(live, quota);
    }
}

async fn another_subject_is_unaffected_by_a_full_quota(store: Arc<dyn TokenStore>) {
    let expires = t0() + TimeDelta::hours(1);
    store
        .insert_refresh(key(500), user_record("quiet", 500, expires), t0())
        .await
        .expect("insert");
    // The same user on another client is another subject too.
    let other_client = RefreshRecord {
        client: ClientId::new("other-client"),
        ..user_record("heavy", 501, expires)
    };
    store
        .insert_refresh(key(501), other_client, t0())
        .await
        .expect("insert");
    for n in 0..100 {
        let at = t0() + TimeDelta::milliseconds(n as i64 + 1);
        store
            .insert_refresh(key(n), user_record("heavy", u128::from(n), expires), at)
            .await
            .expect("insert");
    }
    let now = t0() + TimeDelta::seconds(1);
    assert!(
        store
            .peek_refresh(&key(500), now)
            .await
            .expect("peek")
            .is_some()
    );
    assert!(
        store
            .peek_refresh(&key(501), now)
            .await
            .expect("peek")
            .is_some()
    );
    assert!(matches!(redeem(&store, 500, now).await, Taken::Live(_)));
    let usage = store.usage().await.expect("usage");
    if let Some(live) = usage.entries {
        // The heavy user's quota, its other-client session, the quiet user's rotated child.
        assert_eq!(live, SMALL.max_sessions_per_user as u64 + 2);
    }
    let (subject, quota) = usage
        .top_subject
        .expect("the subject at its quota is named");
    assert_eq!(subject.user.as_ref().map(UserId::as_str), Some("heavy"));
    assert_eq!(subject.client.as_str(), "demo-client");
    assert_eq!(quota, SMALL.max_sessions_per_user as u64);
}

async fn app_tokens_have_the_client_quota(store: Arc<dyn TokenStore>) {
    let expires = t0() + TimeDelta::hours(1);
    let quota = SMALL.max_sessions_per_client as u64;
    for n in 0..quota + 3 {
        let at = t0() + TimeDelta::milliseconds(n as i64);
        store
            .insert_refresh(
                key(n),
                app_record("service", u128::from(n), expires + (at - t0())),
                at,
            )
            .await
            .expect("insert");
    }
    let now = t0() + TimeDelta::seconds(1);
    for n in 0..quota + 3 {
        let held = store.peek_refresh(&key(n), now).await.expect("peek");
        assert_eq!(held.is_some(), n >= 3, "app token {n}");
    }
    // A user of the same client is counted apart.
    store
        .insert_refresh(key(900), record(900, expires), now)
        .await
        .expect("insert");
    assert!(
        store
            .peek_refresh(&key(900), now)
            .await
            .expect("peek")
            .is_some()
    );
    assert!(
        store
            .peek_refresh(&key(quota + 2), now)
            .await
            .expect("peek")
            .is_some()
    );
}

async fn a_rotation_costs_no_quota(store: Arc<dyn TokenStore>) {
    let quota = SMALL.max_sessions_per_user as u64;
    for n in 0..quota {
        let at = t0() + TimeDelta::milliseconds(n as i64);
        store
            .insert_refresh(
                key(n),
                user_record("full", u128::from(n), at + TimeDelta::hours(1)),
                at,
            )
            .await
            .expect("insert");
    }
    // The newest session rotates many times: the subject stays at its quota, and no other
    // session of it is dropped.
    let mut current = quota - 1;
    for n in 0..25 {
        let at = t0() + TimeDelta::seconds(1 + n);
        rotate(&*store, key(current), key(1000 + n as u64), at).await;
        current = 1000 + n as u64;
    }
    let now = t0() + TimeDelta::seconds(60);
    for n in 0..quota - 1 {
        assert!(
            store
                .peek_refresh(&key(n), now)
                .await
                .expect("peek")
                .is_some(),
            "session {n} survived its sibling's rotations"
        );
    }
    assert!(
        store
            .peek_refresh(&key(current), now)
            .await
            .expect("peek")
            .is_some()
    );
}

/// The figure issue 13 asks for, on the memory store at its real scale: `max_entries = 1000`,
/// 10 sessions a user. One user signing in 10 000 times holds at most 10 entries and another
/// still signs in; one client rotating one token 10 000 times holds one live entry and its
/// tombstones stay within their budget.
#[tokio::test]
async fn one_caller_cannot_fill_the_memory_store() {
    let limits = StoreLimits {
        max_tombstones: 500,
        max_sessions_per_user: 10,
        max_sessions_per_client: 10,
    };
    let store = MemoryStore::new(1000).with_limits(limits);
    let expires = t0() + TimeDelta::days(14);
    for n in 0..10_000u64 {
        let at = t0() + TimeDelta::milliseconds(n as i64);
        store
            .insert_refresh(
                key(n),
                user_record("signs-in-per-call", u128::from(n), expires),
                at,
            )
            .await
            .expect("never refused");
    }
    assert!(
        store.live_entries() <= 10,
        "{} entries",
        store.live_entries()
    );
    eprintln!(
        "FIGURE store fill by one user, 10 000 sign-ins, quota 10: {} of 1000 entries",
        store.live_entries()
    );
    store
        .insert_refresh(key(20_000), user_record("someone-else", 1, expires), t0())
        .await
        .expect("another user still signs in");

    let app = |n: u64| app_record("rotating-client", u128::from(n), expires);
    store
        .insert_refresh(key(30_000), app(0), t0())
        .await
        .expect("insert");
    for n in 0..10_000u64 {
        let at = t0() + TimeDelta::milliseconds(n as i64);
        rotate(&store, key(30_000 + n), key(30_001 + n), at).await;
    }
    let usage = store.usage().await.expect("usage");
    assert_eq!(
        usage.entries,
        Some(12),
        "10 + the other user + the rotating client's one"
    );
    assert!(
        store.tombstones() <= 500,
        "{} tombstones",
        store.tombstones()
    );
    eprintln!(
        "FIGURE store fill by one client rotating one token 10 000 times: {} live of its own, \
         {} tombstones of a budget of 500",
        1,
        store.tombstones()
    );
}

/// At the cap, the store refuses a new session only when quotas cannot help: a new subject is
/// refused (Full), a subject at its quota still signs in by giving up its oldest.
#[tokio::test]
async fn a_full_memory_store_refuses_only_what_quotas_cannot_make_room_for() {
    let limits = StoreLimits {
        max_tombstones: 100,
        max_sessions_per_user: 10,
        max_sessions_per_client: 10,
    };
    let store = MemoryStore::new(100).with_limits(limits);
    let expires = t0() + TimeDelta::hours(1);
    for n in 0..100u64 {
        let user = format!("user-{}", n / 10);
        store
            .insert_refresh(key(n), user_record(&user, u128::from(n), expires), t0())
            .await
            .expect("fits");
    }
    assert_eq!(
        store.usage().await.expect("usage").fill(),
        tokengate::domain::Fill::Full
    );
    assert_eq!(
        store
            .insert_refresh(key(500), user_record("newcomer", 500, expires), t0())
            .await,
        Err(StoreError::Full(100))
    );
    store
        .insert_refresh(key(501), user_record("user-3", 501, expires), t0())
        .await
        .expect("a subject at its quota makes room for itself");
    assert_eq!(
        store.peek_refresh(&key(30), t0()).await.expect("peek"),
        None
    );
    // A rotation frees the slot it replaces, so a full store still rotates.
    rotate(&store, key(0), key(502), t0()).await;
}

/// Resident bytes per live refresh token in the memory store, the subject index included:
/// `cargo test --test api -- --ignored memory_bytes_per_token --nocapture` (alone: it reads
/// the process's RSS). One client's million app tokens, then a million users with one
/// session each (their interned ids included, as before the index).
#[test]
#[ignore = "a measurement: run alone, see the doc comment"]
fn memory_bytes_per_token() {
    fn rss() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
        let pages: u64 = statm
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .expect("rss");
        pages * 4096
    }
    tokengate::sys::map_large_allocations();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    const N: u64 = 1_000_000;
    let limits = StoreLimits {
        max_tombstones: 4_000_000,
        max_sessions_per_user: 4_000_000,
        max_sessions_per_client: 4_000_000,
    };
    for (label, per_user) in [
        ("one client's app tokens", false),
        ("one session per user", true),
    ] {
        let store = MemoryStore::new(4_000_000).with_limits(limits);
        let expires = t0() + TimeDelta::days(14);
        let before = rss();
        runtime.block_on(async {
            for n in 0..N {
                let rec = if per_user {
                    user_record(&format!("user-{n:07}"), u128::from(n), expires)
                } else {
                    app_record("demo-client", u128::from(n), expires)
                };
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
                store
                    .insert_refresh(TokenKey(bytes), rec, t0())
                    .await
                    .expect("insert");
            }
        });
        let grown = rss().saturating_sub(before);
        eprintln!(
            "FIGURE memory store, {label}: {} resident bytes per live token ({} MB for {N})",
            grown / N,
            grown >> 20
        );
        drop(store);
    }
}
