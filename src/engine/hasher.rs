//! Password verification on a dedicated pool of low-priority threads. argon2 is deliberately
//! expensive (~15 ms): run on the async workers it would stall every other request, and even on
//! tokio's blocking pool it competes with them for the core on equal terms. Here the hash
//! threads run at the lowest scheduling priority, so a flood of password grants uses only the
//! CPU the workers leave; the queue is bounded (beyond it, an `Overloaded` answer instead of
//! unbounded waiting); and a request whose client has gone away is skipped, not verified.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::error::GrantError;
use super::password::StoredHash;
use crate::domain::PasswordProof;

/// How many verifications may wait per thread: about two seconds of work at argon2's default
/// cost, beyond which answering "try again" beats making the client wait.
const QUEUE_PER_WORKER: usize = 128;

struct Job {
    hash: StoredHash,
    proof: PasswordProof,
    reply: oneshot::Sender<bool>,
}

/// See the module docs.
pub struct HashPool {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl HashPool {
    /// Starts `workers` threads. They end when the pool is dropped.
    pub fn new(workers: usize) -> std::io::Result<Self> {
        let workers = workers.max(1);
        let (jobs, queue) = sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..workers {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tokengate-hash-{index}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Self { jobs, workers })
    }

    /// Verifies `proof` against `hash` on the pool.
    pub async fn verify(&self, hash: StoredHash, proof: PasswordProof) -> Result<bool, GrantError> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { hash, proof, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(GrantError::Overloaded),
            Err(TrySendError::Disconnected(_)) => {
                return Err(GrantError::Internal(
                    "the password verification threads stopped".into(),
                ));
            }
        }
        answer
            .await
            .map_err(|_| GrantError::Internal("a password verification thread failed".into()))
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
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
        if job.reply.is_closed() {
            // The request was dropped (its client disconnected): nobody would see the answer.
            continue;
        }
        let verified = job.hash.verify(&job.proof);
        let _ = job.reply.send(verified);
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
            let pool = HashPool::new(1).expect("threads");
            let password = Secret::new("pw");
            let hash = StoredHash::hash_password(&password).expect("hash");
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
}
