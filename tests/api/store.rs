//! One conformance suite for every `TokenStore` backend: the same test bodies run against the
//! memory, file (redb) and Redis stores, each made fresh per test (a temp file; a key prefix of
//! its own in the test Redis). Time is always an explicit `now`, so expiry is exact.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokengate::domain::{
    AccessRecord, Claims, ClientId, NotBefore, RefreshRecord, Scope, SessionId, Subject, Taken,
    TokenKey, TokenStore, UserId,
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
    Backend {
        store: Arc::new(MemoryStore::default()),
        _dir: None,
        redis_prefix: None,
    }
}

pub fn file() -> Backend {
    let dir = TempDir::new("store");
    let store = FileStore::open(&FileOptions {
        path: dir.path().join("tokens.redb"),
    })
    .expect("file store opens");
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        redis_prefix: None,
    }
}

/// `None` (after a visible SKIPPED line) when the test Redis is unreachable.
pub async fn redis(test: &str) -> Option<Backend> {
    if !redis_available(test).await {
        return None;
    }
    let prefix = redis_prefix();
    let store = RedisStore::new(&RedisOptions {
        url: tokengate::domain::Secret::new(redis_url()),
        key_prefix: prefix.clone(),
        timeout: std::time::Duration::from_secs(2),
    })
    .expect("redis store");
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

conformance!(
    a_token_is_taken_once_then_recognised_as_reused,
    two_concurrent_takes_of_one_token_give_exactly_one_live,
    a_revoked_sessions_token_is_taken_and_refused,
    records_come_back_exactly,
    expiry_follows_the_callers_clock,
    peek_reads_without_taking,
    unknown_keys_are_unknown,
    session_revocation_holds_until_its_end_and_only_extends,
    not_before_markers_only_move_forward,
    opaque_access_tokens_live_until_exp,
    access_revocation_holds_until_its_end,
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
    }
}

async fn a_token_is_taken_once_then_recognised_as_reused(store: Arc<dyn TokenStore>) {
    let rec = record(7, t0() + TimeDelta::seconds(10));
    store
        .insert_refresh(key(1), rec.clone(), t0())
        .await
        .expect("insert");
    assert_eq!(
        store.take_refresh(&key(1), t0()).await,
        Ok(Taken::Live(rec.clone()))
    );
    assert_eq!(
        store.take_refresh(&key(1), t0()).await,
        Ok(Taken::AlreadyUsed {
            session: rec.session
        })
    );
    // A replay stays recognised until the token would have expired, and not after.
    let late = t0() + TimeDelta::milliseconds(9_999);
    assert_eq!(
        store.take_refresh(&key(1), late).await,
        Ok(Taken::AlreadyUsed {
            session: rec.session
        })
    );
    let after = t0() + TimeDelta::seconds(10);
    assert_eq!(store.take_refresh(&key(1), after).await, Ok(Taken::Unknown));
    // A new token under the same key (never in practice) is live again: the newer wins.
    store
        .insert_refresh(key(1), rec.clone(), t0())
        .await
        .expect("insert");
    assert_eq!(
        store.take_refresh(&key(1), t0()).await,
        Ok(Taken::Live(rec))
    );
}

async fn two_concurrent_takes_of_one_token_give_exactly_one_live(store: Arc<dyn TokenStore>) {
    const TRIALS: u64 = 1_000;
    // Trials run 25 at a time: each trial's two takes race each other (and the other trials).
    const WAVE: u64 = 25;
    let expires = t0() + TimeDelta::hours(1);
    for wave in 0..TRIALS / WAVE {
        let mut trials = Vec::new();
        for i in wave * WAVE..(wave + 1) * WAVE {
            let store = store.clone();
            trials.push(tokio::spawn(async move {
                let rec = record(u128::from(i), expires);
                store
                    .insert_refresh(key(i), rec.clone(), t0())
                    .await
                    .expect("insert");
                let (a, b) = (store.clone(), store.clone());
                let first = tokio::spawn(async move { a.take_refresh(&key(i), t0()).await });
                let second = tokio::spawn(async move { b.take_refresh(&key(i), t0()).await });
                let outcomes = [
                    first.await.expect("task").expect("take"),
                    second.await.expect("task").expect("take"),
                ];
                let live = outcomes
                    .iter()
                    .filter(|o| matches!(o, Taken::Live(r) if *r == rec))
                    .count();
                let reused = outcomes
                    .iter()
                    .filter(|o| {
                        **o == Taken::AlreadyUsed {
                            session: rec.session,
                        }
                    })
                    .count();
                assert_eq!((live, reused), (1, 1), "trial {i}: {outcomes:?}");
            }));
        }
        for trial in trials {
            trial.await.expect("trial");
        }
    }
}

async fn a_revoked_sessions_token_is_taken_and_refused(store: Arc<dyn TokenStore>) {
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
        store.take_refresh(&key(21), t0()).await,
        Ok(Taken::SessionRevoked {
            session: rec.session
        })
    );
    assert_eq!(
        store.take_refresh(&key(21), t0()).await,
        Ok(Taken::AlreadyUsed {
            session: rec.session
        }),
        "the take used it up"
    );
    // Once the revocation is over, the session's tokens are live again.
    store
        .insert_refresh(key(22), rec.clone(), t0())
        .await
        .expect("insert");
    let later = t0() + TimeDelta::seconds(10);
    assert_eq!(
        store.take_refresh(&key(22), later).await,
        Ok(Taken::Live(rec))
    );
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
        assert_eq!(
            store.take_refresh(&k, t0()).await,
            Ok(Taken::Live(rec.clone()))
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
    assert_eq!(
        store.take_refresh(&key(1), expires).await,
        Ok(Taken::Unknown)
    );
    assert_eq!(store.peek_refresh(&key(1), expires).await, Ok(None));
    // ...so a caller whose clock is a nanosecond earlier still takes it.
    let just_before = expires - TimeDelta::nanoseconds(1);
    assert!(matches!(
        store.take_refresh(&key(1), just_before).await,
        Ok(Taken::Live(_))
    ));
    // A token inserted already expired is never live.
    store
        .insert_refresh(key(2), record(2, t0()), t0())
        .await
        .expect("insert");
    assert_eq!(store.take_refresh(&key(2), t0()).await, Ok(Taken::Unknown));
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
    assert_eq!(store.take_refresh(&key(1), later).await, Ok(Taken::Unknown));
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
    assert_eq!(
        store.take_refresh(&key(5), t0()).await,
        Ok(Taken::Live(rec))
    );
    assert_eq!(store.peek_refresh(&key(5), t0()).await, Ok(None), "used");
}

async fn unknown_keys_are_unknown(store: Arc<dyn TokenStore>) {
    assert_eq!(
        store.take_refresh(&key(404), t0()).await,
        Ok(Taken::Unknown)
    );
    assert_eq!(store.peek_refresh(&key(404), t0()).await, Ok(None));
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
            store.take_refresh(&key(2), t0()).await,
            Ok(Taken::Live(_))
        ));
        store
            .revoke_session(session(2), t0() + TimeDelta::hours(1), t0())
            .await
            .expect("revoke");
        store.set_not_before(&user, marker).await.expect("marker");
    }
    // Dropping the store closed the file.
    let store = FileStore::open(&options).expect("reopens");
    assert_eq!(
        store.take_refresh(&key(1), t0()).await,
        Ok(Taken::Live(rec.clone()))
    );
    assert_eq!(
        store.take_refresh(&key(2), t0()).await,
        Ok(Taken::AlreadyUsed {
            session: rec.session
        })
    );
    assert_eq!(store.is_session_revoked(session(2), t0()).await, Ok(true));
    assert_eq!(store.not_before(&user).await, Ok(Some(marker)));
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
