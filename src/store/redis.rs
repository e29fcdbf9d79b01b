//! The shared store: state in Redis, so any number of gateways agree. Every trait call is one
//! round trip: a plain command, or a Lua script where a read and a write must be one atomic
//! step (rotate a refresh token: take it and store its successor; extend a session
//! revocation, move a not-before marker forward, count failed passwords). Keys expire by Redis TTLs (the record's lifetime
//! from the caller's `now`), and records carry their own expiry so reads honour `now` exactly;
//! nothing is ever scanned. Failed-password counters are shared like the rest: every gateway on
//! one Redis counts into the same windows.
//!
//! The connection is a `redis` connection manager, made on first use (a gateway starts while
//! Redis is down) and re-established by itself after Redis returns. Every call is bounded by
//! the configured timeout and fails with [`StoreError::Unavailable`], never hangs.
//!
//! Keys, under the configured prefix (values in [`super::codec`]'s encoding):
//!
//! | key | value | TTL |
//! |---|---|---|
//! | `r:` + SHA-256 of a refresh token (raw 32 bytes) | live record, or used marker with its sealed successor (written by the one rotation script) | until the token expires |
//! | `s:` + session id (16 bytes) | revoked until | until then |
//! | `n:` + subject (client, user) | not-before marker | none (one per user and client) |
//! | `a:` + SHA-256 of an opaque access token | claims (JSON) | until the token expires |
//! | `x:` + SHA-256 of a revoked access token's reference | revoked until | until then |
//! | `f:` + a failed-password counter's key (32 bytes) | failure window | until the window ends, plus [`COUNTER_SLACK`] |
//!
//! | `u:` + subject ([`codec::subject_key`]) | sorted set of the subject's live `r:` keys, scored by expiry (ms, caller's clock) | the longest of its members' |
//! | `t:` | sorted set of every used marker's `r:` key, scored by expiry (ms) | the longest of its members' |
//!
//! Capacity, in the same scripts that write tokens: an insert first removes its subject's
//! members that have expired (by score), then, while the subject holds its quota, pops the
//! oldest member and deletes its token if still live; a rotation removes the parent from its
//! subject's set (its value names the subject) and adds the child, and adds the parent's
//! marker to `t:`, or, with `t:` at the tombstone budget, deletes the parent instead of
//! keeping a marker. `t:` is one key for
//! all gateways, so the budget is global; like the session keys a rotation reads, it is built in
//! the script: fine on one Redis, not on a cluster.
//!
//! A counter's TTL only collects garbage: its window's end, in the value, is what [`TokenStore`]
//! calls compare with their `now`. The slack keeps the key while a gateway whose clock is
//! behind the one that started the window still counts it live.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::codec::{self, Slot};
use crate::domain::{
    AccessRecord, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, Secret, SessionId,
    StoreError, StoreLimits, Subject, Taken, TokenKey, TokenStore, Usage,
};

/// The default bound on one store call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "tokengate:";
/// How long a failed-password counter's key outlives its window; see the module docs.
pub const COUNTER_SLACK: Duration = Duration::from_secs(3600);

/// `[store] kind = "redis"`.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]`; a secret, since it may hold a password.
    pub url: Secret,
    /// Prepended to every key, so several deployments (or test runs) share one Redis.
    pub key_prefix: String,
    /// The longest any store call may take, connecting included.
    pub timeout: Duration,
}

/// Checks a Redis URL without connecting; the error never repeats the URL.
pub fn check_url(url: &Secret) -> Result<(), String> {
    redis::Client::open(url.expose()).map(|_| ()).map_err(|e| {
        format!(
            "not a Redis URL ({:?}); expected redis://[user:password@]host:port[/db]",
            e.kind()
        )
    })
}

/// The URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A Lua function giving the subject bytes ([`codec::subject_key`]) of a live record: the
/// client string and the optional user after the 41 fixed bytes, as encoded; `nil` for a value
/// that does not parse.
macro_rules! subject_lua {
    () => {
        r"
local function leb(v, i)
  local len, mul = 0, 1
  while true do
    local b = string.byte(v, i)
    if not b or mul > 2^28 then return nil end
    i = i + 1
    len = len + (b % 128) * mul
    if b < 128 then return len, i end
    mul = mul * 128
  end
end
local function subject_of(v)
  local len, i = leb(v, 42)
  if not len then return nil end
  i = i + len
  local tag = string.byte(v, i)
  if tag == 1 then
    len, i = leb(v, i + 1)
    if not len then return nil end
    i = i + len
  elseif tag == 0 then
    i = i + 1
  else
    return nil
  end
  if i - 1 > #v then return nil end
  return string.sub(v, 42, i - 1)
end
"
    };
}

/// The insert both [`INSERT`] and [`ROTATE`] begin with: KEYS[1] the new token, KEYS[2] its
/// subject's set. ARGV[1] the record, ARGV[2] its TTL in ms ('0': already expired, nothing
/// written), ARGV[3] its expiry in ms (the score), ARGV[4] now in ms, ARGV[5] the subject's
/// quota. Leaves `evicted`, the live tokens dropped for the quota.
macro_rules! insert_lua {
    () => {
        r"
local evicted = 0
if ARGV[2] ~= '0' then
  local set = KEYS[2]
  redis.call('ZREMRANGEBYSCORE', set, '-inf', ARGV[4])
  local quota = tonumber(ARGV[5])
  while redis.call('ZCARD', set) >= quota do
    local oldest = redis.call('ZPOPMIN', set)
    if not oldest[1] then break end
    local old = redis.call('GET', oldest[1])
    if old and string.byte(old, 1) == 76 then
      redis.call('DEL', oldest[1])
      evicted = evicted + 1
    end
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('ZADD', set, ARGV[3], KEYS[1])
  local ttl = tonumber(ARGV[2])
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
"
    };
}

/// Stores a new refresh token under its subject's quota (see [`insert_lua`]); returns how
/// many of the subject's live tokens it dropped.
const INSERT: &str = concat!(insert_lua!(), "return evicted\n");

/// Redeems a refresh token (KEYS[1]) and stores its successor (KEYS[2]) in one script, so
/// Redis runs the whole rotation or none of it, and a gateway that gave up waiting (a stall
/// longer than its timeout) still leaves a complete rotation behind. A live parent whose
/// session is not revoked: the child is written first (the parent's value with the new expiry
/// in place of the old, `PX` its TTL), so a write Redis refuses (out of memory) aborts the
/// script before the parent changes; then the parent becomes a used marker (its first 29
/// bytes: tag, session, expiry; the redemption instant; the sealed successor) keeping its TTL,
/// and the old value is returned with revoked = 0. A live parent whose session is revoked
/// (checked in the same step, see `Taken::SessionRevoked`): marked used without a successor,
/// returned with revoked = 1. A used marker is returned as is; a missing or (by the caller's
/// clock) expired parent is nil. ARGV: now's seconds, nanos, the prefix of session keys, now
/// encoded as an instant, the child's expiry encoded as an instant, the child's TTL in ms ('0': already
/// expired, not written), the successor as it follows a marker's fixed fields. The session
/// key is built here, not passed in KEYS, because it is inside the value; and the two token
/// keys may hash to different slots: fine on one Redis, not on a cluster.
///
/// Capacity in the same step: the parent leaves its subject's set (ARGV[9] is the prefix of
/// subject keys; the subject is the client and user after the live record's 41 fixed bytes)
/// and the child joins it (score ARGV[12], its expiry in ms), so a rotation costs no quota;
/// the parent's marker joins the tombstone set ARGV[8] (expired members first removed by score
/// against ARGV[11], now in ms) unless that holds ARGV[10] markers, in which case the parent is
/// deleted and no marker kept. Returns {value, revoked, kept}.
const ROTATE: &str = concat!(
    subject_lua!(),
    r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local s, n = struct.unpack('>i8>I4', v, 18)
local now_s, now_n = tonumber(ARGV[1]), tonumber(ARGV[2])
if s < now_s or (s == now_s and n <= now_n) then return false end
if string.byte(v, 1) ~= 76 then return {v, 0, 1} end
local subject = subject_of(v)
local function use_up(successor)
  if subject then redis.call('ZREM', ARGV[9] .. subject, KEYS[1]) end
  local tomb, now_ms = ARGV[8], tonumber(ARGV[11])
  redis.call('ZREMRANGEBYSCORE', tomb, '-inf', now_ms)
  if redis.call('ZCARD', tomb) < tonumber(ARGV[10]) then
    redis.call('SET', KEYS[1], 'U' .. string.sub(v, 2, 29) .. ARGV[4] .. successor, 'KEEPTTL')
    local exp_ms = s * 1000 + math.floor(n / 1000000)
    redis.call('ZADD', tomb, exp_ms, KEYS[1])
    local ttl = exp_ms - now_ms + 1
    if redis.call('PTTL', tomb) < ttl then redis.call('PEXPIRE', tomb, ttl) end
    return 1
  end
  redis.call('DEL', KEYS[1])
  return 0
end
local rev = redis.call('GET', ARGV[3] .. string.sub(v, 2, 17))
if rev then
  local us, un = struct.unpack('>i8>I4', rev)
  if us > now_s or (us == now_s and un > now_n) then
    return {v, 1, use_up('\0')}
  end
end
if ARGV[6] ~= '0' then
  redis.call('SET', KEYS[2], 'L' .. string.sub(v, 2, 17) .. ARGV[5] .. string.sub(v, 30), 'PX', ARGV[6])
  if subject then
    local set = ARGV[9] .. subject
    redis.call('ZADD', set, ARGV[12], KEYS[2])
    local ttl = tonumber(ARGV[6])
    if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
  end
end
return {v, 0, use_up(ARGV[7])}
"
);

/// Counts one failure on each counter in KEYS, in one atomic step: a window live at the
/// caller's `now` gains one (keeping its TTL); none, or one that has ended, is replaced by a
/// fresh window with one failure. Returns each counter's window after the count. ARGV: now's
/// seconds, nanos, the fresh window (encoded), its TTL in ms.
const COUNT: &str = r"
local now_s, now_n = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local live = false
  if v and #v == 16 then
    local f, s, n = struct.unpack('>I4>i8>I4', v)
    if s > now_s or (s == now_s and n > now_n) then
      live = true
      if f < 4294967295 then f = f + 1 end
      v = struct.pack('>I4', f) .. string.sub(v, 5)
      redis.call('SET', key, v, 'KEEPTTL')
    end
  end
  if not live then
    v = ARGV[3]
    redis.call('SET', key, v, 'PX', ARGV[4])
  end
  out[i] = v
end
return out
";

// The scripts above spell these lengths out.
const _: () = assert!(codec::SHARED_LEN == 29 && codec::USED_LEN == 41 && codec::WINDOW_LEN == 16);

/// Sets a value holding an instant first unless the stored one is later (or, with ARGV[5] =
/// '1', not earlier). ARGV: value, its seconds, its nanos, TTL in ms ('0': none), strictness.
const MOVE_FORWARD: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then
  local s, n = struct.unpack('>i8>I4', cur)
  local new_s, new_n = tonumber(ARGV[2]), tonumber(ARGV[3])
  if s > new_s or (s == new_s and (n > new_n or (ARGV[5] == '1' and n == new_n))) then
    return 0
  end
end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
end
return 1
";

/// See the module docs.
pub struct RedisStore {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    prefix: Vec<u8>,
    timeout: Duration,
    target: String,
    insert: redis::Script,
    rotate: redis::Script,
    count: redis::Script,
    limits: StoreLimits,
    /// The subject that last reached its quota through this gateway, and the quota.
    quota_hit: std::sync::Mutex<Option<(Subject, usize)>>,
    move_forward: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// An instant as whole milliseconds since the epoch (a sorted-set score), rounded down, as the
/// scripts round a stored expiry.
fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Milliseconds from `now` until `until`, rounded up; `None` when already past.
fn ttl_ms(until: DateTime<Utc>, now: DateTime<Utc>) -> Option<u64> {
    let delta = until.signed_duration_since(now);
    let micros = delta.num_microseconds().unwrap_or(i64::MAX);
    (micros > 0).then(|| (micros as u64).div_ceil(1000))
}

impl RedisStore {
    /// Prepares the store; nothing connects until the first call.
    pub fn new(options: &RedisOptions) -> Result<Self, StoreError> {
        let target = redacted(options.url.expose());
        let client = redis::Client::open(options.url.expose())
            // Only the error's kind: its text may quote the URL, credentials included.
            .map_err(|e| {
                StoreError::unavailable_because(format!("redis at {target}: {:?}", e.kind()))
            })?;
        Ok(Self {
            client,
            manager: OnceCell::new(),
            prefix: options.key_prefix.as_bytes().to_vec(),
            timeout: options.timeout,
            target,
            insert: redis::Script::new(INSERT),
            rotate: redis::Script::new(ROTATE),
            count: redis::Script::new(COUNT),
            limits: StoreLimits::default(),
            quota_hit: std::sync::Mutex::new(None),
            move_forward: redis::Script::new(MOVE_FORWARD),
        })
    }

    /// Sets the tombstone budget and the session quotas (default [`StoreLimits::default`]).
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The arguments [`insert_lua`] reads after the record, and its two keys.
    fn insert_args(
        &self,
        key: &TokenKey,
        record: &RefreshRecord,
        now: DateTime<Utc>,
    ) -> (Vec<u8>, Vec<u8>, u64, i64, i64, usize) {
        let subject = Subject {
            client: record.client.clone(),
            user: record.user.clone(),
        };
        let ttl = ttl_ms(record.expires_at, now).unwrap_or(0);
        (
            self.key(b"r:", &key.0),
            self.key(b"u:", &codec::subject_key(&subject)),
            ttl,
            millis(record.expires_at),
            millis(now),
            self.limits.quota(record.user.is_some()).max(1),
        )
    }

    /// Logs and remembers a subject that reached its quota.
    fn note_evicted(&self, record: &RefreshRecord, evicted: i64) {
        if evicted <= 0 {
            return;
        }
        let subject = Subject {
            client: record.client.clone(),
            user: record.user.clone(),
        };
        let quota = self.limits.quota(record.user.is_some()).max(1);
        super::note_quota("redis", &subject, quota, evicted as usize);
        *self
            .quota_hit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((subject, quota));
    }

    /// Where the store points, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn key(&self, kind: &[u8], id: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + kind.len() + id.len());
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(kind);
        key.extend_from_slice(id);
        key
    }

    fn unavailable(&self, error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::unavailable(format!("redis at {}", self.target), error)
    }

    fn unavailable_because(&self, why: impl std::fmt::Display) -> StoreError {
        StoreError::unavailable_because(format!("redis at {}: {why}", self.target))
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        // Made inside the runtime of the first call (it spawns its reconnect task there).
        // Retries are few and short: the caller's timeout bounds each call anyway, and a
        // failed call starts a new reconnection, so the gateway recovers on the next request.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| self.unavailable(e))?;
        // Two first calls racing each make one; the loser's is dropped unused.
        let _ = self.manager.set(manager);
        self.manager
            .get()
            .cloned()
            .ok_or_else(|| self.unavailable_because("no connection"))
    }

    /// Runs one command or script within the timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        call: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let manager = self.connection()?;
        match tokio::time::timeout(self.timeout, call(manager)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.unavailable(error)),
            Err(_) => Err(self
                .unavailable_because(format!("no answer within {} ms", self.timeout.as_millis()))),
        }
    }

    async fn get(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(async move |mut conn| {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
        })
        .await
    }

    async fn set_px(&self, key: Vec<u8>, value: Vec<u8>, ttl: u64) -> Result<(), StoreError> {
        self.run(async move |mut conn| {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    /// See [`MOVE_FORWARD`].
    async fn move_forward(
        &self,
        key: Vec<u8>,
        value: Vec<u8>,
        at: DateTime<Utc>,
        ttl: Option<u64>,
        strictly_later: bool,
    ) -> Result<(), StoreError> {
        let script = &self.move_forward;
        self.run(async move |mut conn| {
            script
                .key(key)
                .arg(value)
                .arg(at.timestamp())
                .arg(at.timestamp_subsec_nanos())
                .arg(ttl.unwrap_or(0))
                .arg(if strictly_later { "1" } else { "0" })
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }

    fn decoded<T>(
        &self,
        value: Option<Vec<u8>>,
        decode: impl FnOnce(&[u8]) -> Result<T, codec::DecodeError>,
    ) -> Option<T> {
        let value = value?;
        match decode(&value) {
            Ok(decoded) => Some(decoded),
            Err(e) => {
                // Someone else's value under our prefix, or damage: "not there".
                tracing::warn!(error = %e, "redis store: ignoring a value that does not decode");
                None
            }
        }
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Already expired: nothing could take it, so nothing is written.
        if ttl_ms(record.expires_at, now).is_none() {
            return Ok(());
        }
        let (key, subject, ttl, expires_ms, now_ms, quota) = self.insert_args(&key, &record, now);
        let value = codec::encode_live(&record);
        let script = &self.insert;
        let evicted = self
            .run(async move |mut conn| {
                script
                    .key(key)
                    .key(subject)
                    .arg(value)
                    .arg(ttl)
                    .arg(expires_ms)
                    .arg(now_ms)
                    .arg(quota)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        self.note_evicted(&record, evicted);
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        let parent = self.key(b"r:", &parent.0);
        let child_key = self.key(b"r:", &child.key.0);
        let sessions = self.key(b"s:", b"");
        let tombstones = self.key(b"t:", b"");
        let subjects = self.key(b"u:", b"");
        let max_tombstones = self.limits.max_tombstones;
        let ttl = ttl_ms(child.expires_at, now).unwrap_or(0);
        let successor = codec::encode_successor(child.successor.as_ref());
        let script = &self.rotate;
        let taken = self
            .run(async move |mut conn| {
                script
                    .key(parent)
                    .key(child_key)
                    .arg(now.timestamp())
                    .arg(now.timestamp_subsec_nanos())
                    .arg(sessions)
                    .arg(codec::instant(now).as_slice())
                    .arg(codec::instant(child.expires_at).as_slice())
                    .arg(ttl)
                    .arg(successor)
                    .arg(tombstones)
                    .arg(subjects)
                    .arg(max_tombstones)
                    .arg(millis(now))
                    .arg(millis(child.expires_at))
                    .invoke_async::<Option<(Vec<u8>, i64, i64)>>(&mut conn)
                    .await
            })
            .await?;
        let (value, revoked) = match taken {
            Some((value, revoked, kept)) => {
                if kept == 0 {
                    super::note_tombstones_full("redis", max_tombstones);
                }
                (Some(value), revoked == 1)
            }
            None => (None, false),
        };
        Ok(match self.decoded(value, codec::decode_slot) {
            None => Taken::Unknown,
            Some(Slot::Live(record)) if revoked => Taken::SessionRevoked {
                session: record.session,
            },
            Some(Slot::Live(record)) => Taken::Live(record),
            Some(Slot::Used {
                session,
                used_at,
                successor,
                ..
            }) => Taken::AlreadyUsed {
                session,
                used_at,
                successor,
            },
        })
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(ttl) = ttl_ms(until, now) else {
            return Ok(());
        };
        let key = self.key(b"s:", session.0.as_bytes());
        let value = codec::instant(until).to_vec();
        // Only ever extended: an equal or later revocation stays.
        self.move_forward(key, value, until, Some(ttl), true).await
    }

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let value = self.get(self.key(b"s:", session.0.as_bytes())).await?;
        Ok(self
            .decoded(value, codec::decode_instant)
            .is_some_and(|until| until > now))
    }

    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError> {
        let key = self.key(b"n:", &codec::subject_key(subject));
        let value = codec::encode_not_before(&marker);
        self.move_forward(key, value, marker.at, None, false).await
    }

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError> {
        let value = self
            .get(self.key(b"n:", &codec::subject_key(subject)))
            .await?;
        Ok(self.decoded(value, codec::decode_not_before))
    }

    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        let value = self.get(self.key(b"r:", &key.0)).await?;
        Ok(match self.decoded(value, codec::decode_slot) {
            Some(Slot::Live(record)) if record.expires_at > now => Some(record),
            _ => None,
        })
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let expires_at = DateTime::from_timestamp(record.claims.exp, 0).unwrap_or(now);
        let Some(ttl) = ttl_ms(expires_at, now) else {
            return Ok(());
        };
        let value = codec::encode_access(&record);
        self.set_px(self.key(b"a:", &key.0), value, ttl).await
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        let value = self.get(self.key(b"a:", &key.0)).await?;
        Ok(self
            .decoded(value, codec::decode_access)
            .filter(|record| record.claims.exp > now.timestamp()))
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let Some(ttl) = ttl_ms(until, now) else {
            return Ok(());
        };
        let key = self.key(b"x:", &key.0);
        let value = codec::instant(until).to_vec();
        self.run(async move |mut conn| {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .arg("PX")
                .arg(ttl)
                .query_async::<Option<String>>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let value = self.get(self.key(b"x:", &key.0)).await?;
        Ok(self
            .decoded(value, codec::decode_instant)
            .is_some_and(|until| until > now))
    }

    async fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<FailureWindow>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<Vec<u8>> = keys.iter().map(|key| self.key(b"f:", &key.0)).collect();
        let values = self
            .run(async move |mut conn| {
                redis::cmd("MGET")
                    .arg(keys)
                    .query_async::<Vec<Option<Vec<u8>>>>(&mut conn)
                    .await
            })
            .await?;
        Ok(values
            .into_iter()
            .map(|value| {
                self.decoded(value, codec::decode_window)
                    .filter(|window| window.ends_at > now)
            })
            .collect())
    }

    async fn count_failures(
        &self,
        keys: &[CounterKey],
        window: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureWindow>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let fresh = FailureWindow::first(window, now);
        let ends_at = fresh.ends_at;
        let slack = COUNTER_SLACK.as_millis() as u64;
        let ttl = ttl_ms(ends_at, now).unwrap_or(0).saturating_add(slack);
        let redis_keys: Vec<Vec<u8>> = keys.iter().map(|key| self.key(b"f:", &key.0)).collect();
        let script = &self.count;
        let values = self
            .run(async move |mut conn| {
                let mut invocation = script.prepare_invoke();
                for key in redis_keys {
                    invocation.key(key);
                }
                invocation
                    .arg(now.timestamp())
                    .arg(now.timestamp_subsec_nanos())
                    .arg(codec::encode_window(&fresh))
                    .arg(ttl)
                    .invoke_async::<Vec<Vec<u8>>>(&mut conn)
                    .await
            })
            .await?;
        if values.len() != keys.len() {
            return Err(self.unavailable_because("the counting script answered for other keys"));
        }
        values
            .iter()
            .map(|value| codec::decode_window(value).map_err(|e| self.unavailable_because(e)))
            .collect()
    }

    async fn clear_failures(&self, key: &CounterKey) -> Result<(), StoreError> {
        let key = self.key(b"f:", &key.0);
        self.run(async move |mut conn| {
            redis::cmd("DEL")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(|_| ())
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.run(async move |mut conn| redis::cmd("PING").query_async::<String>(&mut conn).await)
            .await
            .map(|_| ())
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        let tombstones = self.key(b"t:", b"");
        // What the budget is counted against: every take first removes the markers expired by
        // its caller's clock, so those left over are few.
        let held = self
            .run(async move |mut conn| {
                redis::cmd("ZCARD")
                    .arg(tombstones)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await?;
        Ok(Usage {
            // Live tokens are not counted in Redis (keys leave by TTL, which no counter sees);
            // its own bound is `maxmemory`.
            entries: None,
            max_entries: None,
            tombstones: Some(held),
            max_tombstones: Some(self.limits.max_tombstones as u64),
            top_subject: self
                .quota_hit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .map(|(subject, quota)| (subject, quota as u64)),
        })
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redacted("redis://user:s3cret@10.0.0.1:6379/2"),
            "redis://***@10.0.0.1:6379/2"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        let bad = check_url(&Secret::new("http://user:s3cret@x")).expect_err("not redis");
        assert!(!bad.contains("s3cret"), "{bad}");
    }

    #[test]
    fn ttls_round_up_and_vanish_when_past() {
        let now = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
        let later = DateTime::from_timestamp(1_600_000_010, 300_001).expect("valid");
        assert_eq!(ttl_ms(later, now), Some(10_001));
        assert_eq!(ttl_ms(now, now), None);
        assert_eq!(ttl_ms(now, later), None);
    }
}
