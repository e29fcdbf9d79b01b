//! Password verification on a dedicated pool of low-priority threads. Password hashes are
//! deliberately expensive (argon2id ~15 ms, .NET 7's PBKDF2 more; README "Accepted password
//! hashes"): run on the async workers a verification would stall every other request, and even on
//! tokio's blocking pool it competes with them for the core on equal terms. Here the hash
//! threads run at the lowest scheduling priority, so a flood of password grants uses only the
//! CPU the workers leave; the queue is bounded twice, by length and by waiting time: a job that
//! waited longer than the pool's bound is answered `Overloaded` and never hashed, so a password
//! answer never takes more than that bound plus one hash; and a request whose client has gone
//! away is skipped, not verified. The same threads rehash a signed-in user's password when the
//! directory upgrades hashes (`upgrade_to`), and only when no verification is waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::{Fault, GrantError};
use super::password::{HashError, StoredHash};
use crate::domain::PasswordProof;

/// How many verifications may wait per thread: about two seconds of work at argon2's default
/// cost. The waiting-time bound is what holds under a flood (the cost varies with the machine);
/// the length bound keeps the queue's memory fixed.
const QUEUE_PER_WORKER: usize = 128;

/// The waiting-time bound when none is configured.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

struct Job {
    work: Work,
    /// When it was queued: real time, not the engine's clock (a test's fixed clock does not
    /// make a queue wait shorter).
    queued: Instant,
    reply: oneshot::Sender<Verdict>,
}

enum Work {
    Verify(StoredHash, PasswordProof),
    /// A new argon2id hash over the SHA-1 hex of the password the proof gives.
    Upgrade(PasswordProof),
}

/// What a hash thread answers.
enum Verdict {
    Verified(bool),
    Hashed(Result<String, HashError>),
    /// The job waited past the bound and was not hashed.
    Late,
}

/// See the module docs.
pub struct HashPool {
    jobs: SyncSender<Job>,
    workers: usize,
    max_wait: Duration,
    /// Verifications queued or running: an upgrade is queued only when there are none.
    verifying: Arc<AtomicUsize>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .field("max_wait", &self.max_wait)
            .finish_non_exhaustive()
    }
}

/// Metrics (`/metrics`): verifications queued and not yet taken by a hash thread, and how long
/// each waited for one.
pub const QUEUE_DEPTH: &str = "tokengate_password_queue_depth";
pub const QUEUE_WAIT: &str = "tokengate_password_queue_wait_seconds";

impl HashPool {
    /// Starts `workers` threads, whose jobs may wait at most `max_wait`. They end when the
    /// pool is dropped.
    pub fn new(workers: usize, max_wait: Duration) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let (jobs, queue) = sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        let verifying = Arc::new(AtomicUsize::new(0));
        for index in 0..workers {
            let (queue, verifying) = (queue.clone(), verifying.clone());
            std::thread::Builder::new()
                .name(format!("tokengate-hash-{index}"))
                .spawn(move || work(&queue, max_wait, &verifying))?;
        }
        Ok(Self {
            jobs,
            workers,
            max_wait,
            verifying,
        })
    }

    /// Verifies `proof` against `hash` on the pool.
    pub async fn verify(&self, hash: StoredHash, proof: PasswordProof) -> Result<bool, GrantError> {
        self.verifying.fetch_add(1, Ordering::AcqRel);
        match self.run(Work::Verify(hash, proof)).await {
            Ok(Verdict::Verified(verified)) => Ok(verified),
            Ok(Verdict::Late) => Err(GrantError::Overloaded),
            Ok(Verdict::Hashed(_)) => Err(Fault::HashThreadsStopped.into()),
            Err(e) => {
                // Never reached a thread, which would have counted it down.
                if matches!(
                    e,
                    GrantError::Overloaded | GrantError::Internal(Fault::HashThreadsStopped)
                ) {
                    self.verifying.fetch_sub(1, Ordering::AcqRel);
                }
                Err(e)
            }
        }
    }

    /// A new argon2id hash of the password `proof` gives, made only while no verification is
    /// waiting or running (`None` otherwise): an upgrade never makes a sign-in wait.
    pub async fn upgrade(&self, proof: PasswordProof) -> Result<Option<String>, GrantError> {
        if self.verifying.load(Ordering::Acquire) > 0 {
            return Ok(None);
        }
        match self.run(Work::Upgrade(proof)).await {
            Ok(Verdict::Hashed(Ok(hash))) => Ok(Some(hash)),
            Ok(Verdict::Hashed(Err(e))) => {
                tracing::warn!(error = %e, "cannot make an argon2id hash");
                Ok(None)
            }
            Ok(Verdict::Late | Verdict::Verified(_)) => Ok(None),
            Err(GrantError::Overloaded) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn run(&self, work: Work) -> Result<Verdict, GrantError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            work,
            queued: Instant::now(),
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => metrics::gauge!(QUEUE_DEPTH).increment(1.0),
            Err(TrySendError::Full(_)) => return Err(GrantError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Fault::HashThreadsStopped.into());
            }
        }
        Ok(answer.await.map_err(Fault::HashThreadFailed)?)
    }
}

fn work(queue: &Mutex<Receiver<Job>>, max_wait: Duration, verifying: &AtomicUsize) {
    crate::sys::lower_thread_priority();
    loop {
        // Holding the lock only to receive: one thread waits on the channel, the others on the
        // lock, and whoever gets a job releases the lock before hashing.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else {
            return;
        };
        metrics::gauge!(QUEUE_DEPTH).decrement(1.0);
        metrics::histogram!(QUEUE_WAIT).record(job.queued.elapsed().as_secs_f64());
        let verdict = if job.reply.is_closed() {
            // The request was dropped (its client disconnected): nobody would see the answer.
            None
        } else if job.queued.elapsed() > max_wait {
            Some(Verdict::Late)
        } else {
            Some(match &job.work {
                Work::Verify(hash, proof) => Verdict::Verified(hash.verify(proof)),
                Work::Upgrade(proof) => Verdict::Hashed(super::password::upgrade_hash(proof)),
            })
        };
        if matches!(job.work, Work::Verify(..)) {
            verifying.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(verdict) = verdict {
            let _ = job.reply.send(verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;

    #[test]
    fn verifies_on_the_pool_and_refuses_beyond_its_queue() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let pool = HashPool::new(1, DEFAULT_MAX_WAIT).expect("threads");
            let password = Secret::new("pw");
            let hash = crate::engine::password::hash_password(
                &password,
                crate::engine::password::NewHashFormat::Argon2id,
            )
            .expect("hash");
            let hash = StoredHash::parse(&hash, Default::default()).expect("parses");
            let ok = pool
                .verify(hash.clone(), PasswordProof::Plain(password))
                .await
                .expect("verified");
            assert!(ok);
            let bad = pool
                .verify(hash, PasswordProof::Plain(Secret::new("nope")))
                .await
                .expect("verified");
            assert!(!bad);
        });
    }

    /// A flood: more jobs than one thread can hash within the bound. Those that waited past it
    /// are answered `Overloaded` without being hashed; the first is verified.
    #[test]
    fn a_job_that_waited_past_the_bound_is_refused_unhashed() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        use argon2::{Algorithm, Argon2, Params, Version};
        // A hash costing far more than the bound (64 MiB, 8 passes): every job behind the
        // first waits at least that long.
        let params = Params::new(65_536, 8, 1, Some(32)).expect("params");
        let digest = crate::domain::Sha1Hex::of_password(&Secret::new("pw")).to_lower_hex();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(
                digest.as_bytes(),
                &SaltString::from_b64("c2FsdHNhbHRzYWx0").expect("salt"),
            )
            .expect("hash")
            .to_string();
        let hash = StoredHash::parse(&phc, Default::default()).expect("parses");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let pool = Arc::new(HashPool::new(1, Duration::from_millis(100)).expect("threads"));
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let (pool, hash) = (pool.clone(), hash.clone());
                    tokio::spawn(async move {
                        pool.verify(hash, PasswordProof::Plain(Secret::new("pw")))
                            .await
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("task"));
            }
            let late = answers
                .iter()
                .filter(|a| matches!(a, Err(GrantError::Overloaded)))
                .count();
            let verified = answers.iter().filter(|a| matches!(a, Ok(true))).count();
            assert_eq!((verified, late), (1, 5), "{answers:?}");
        });
    }
}
