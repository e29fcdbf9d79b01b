//! Child processes and what the harness reads about them: spawning servers that announce
//! `address=IP:PORT` in their log, killing every child on exit (Drop, panic, SIGINT/SIGTERM),
//! CPU time and RSS from `/proc`, a tiny HTTP/1.1 client for probes and seeding, and pinning.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every child still running, by pid, so a signal can kill them all before the harness exits
/// (Drop does not run on a signal).
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// The scratch directory, removed by the signal handler too (Drop does not run on a signal).
static SCRATCH: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Registers the directory the signal handler removes.
pub fn remove_on_signal(dir: &Path) {
    *SCRATCH.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir.to_path_buf());
}

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kill_pid(pid: u32) {
    // std can only kill a `Child` it holds; the signal thread holds pids.
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok();
}

/// On SIGINT or SIGTERM, kills every registered child, then exits. A Ctrl-C in a terminal
/// reaches the children anyway (same process group); a SIGTERM to the harness alone would not.
pub fn kill_children_on_signal() {
    std::thread::spawn(|| {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("warning: no signal handler ({e}); children may outlive a SIGTERM");
                return;
            }
        };
        let signalled = runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result,
                _ = term.recv() => Ok(()),
            }
        });
        if signalled.is_ok() {
            for pid in live().drain(..) {
                kill_pid(pid);
            }
            if let Some(dir) = SCRATCH.lock().unwrap_or_else(|p| p.into_inner()).take() {
                std::fs::remove_dir_all(dir).ok();
            }
            eprintln!("interrupted: child processes killed");
            std::process::exit(130);
        }
    });
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard {
    child: Option<Child>,
    what: String,
}

impl ChildGuard {
    pub fn spawn(command: &mut Command, what: impl Into<String>) -> Result<Self, String> {
        let what = what.into();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        live().push(child.id());
        Ok(Self {
            child: Some(child),
            what,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Waits for a child that stops by itself (wrk's bounded run) and collects its output.
    pub fn wait_output(mut self) -> Result<Output, String> {
        let child = self
            .child
            .take()
            .ok_or_else(|| format!("{} was already reaped", self.what))?;
        // Unregistered before it is reaped, so the signal handler can never kill a pid the
        // system has handed to another process; a bounded wrk left running by a signal stops
        // by itself within its duration.
        live().retain(|p| *p != child.id());
        child
            .wait_with_output()
            .map_err(|e| format!("waiting for {}: {e}", self.what))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            live().retain(|p| *p != child.id());
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// A server child that printed `address=IP:PORT` on stdout. Its stdout goes to a file, not a
/// pipe: tokengate logs a line per request, and a pipe drained by the harness (which shares the
/// load core with wrk) fills up and stalls the server on `write`, which measures the harness.
/// A file opened for appending costs the server what a log file costs in production, and
/// [`Server::truncate_log`] keeps it small between runs.
pub struct Server {
    child: ChildGuard,
    log: PathBuf,
    pub addr: SocketAddr,
}

impl Server {
    /// Spawns `command` with stdout appended to `log` and waits up to `timeout` for the
    /// address line.
    pub fn start(
        mut command: Command,
        what: &str,
        log: &Path,
        timeout: Duration,
    ) -> Result<Self, String> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        command.stdout(file);
        let mut child = ChildGuard::spawn(&mut command, what)?;
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(address_in) {
                return Ok(Self {
                    child,
                    log: log.to_path_buf(),
                    addr,
                });
            }
            if let Some(status) = child.child_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!(
                    "{what} exited ({status}) before listening; its log:\n{text}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what} printed no address= line within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Empties the log between runs (the server appends, so it keeps writing at the new end).
    pub fn truncate_log(&self) -> Result<(), String> {
        OpenOptions::new()
            .write(true)
            .open(&self.log)
            .and_then(|f| f.set_len(0))
            .map_err(|e| format!("{}: {e}", self.log.display()))
    }
}

fn address_in(line: &str) -> Option<SocketAddr> {
    let at = line.find("address=")?;
    line[at + "address=".len()..]
        .split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

/// `taskset -c CORE program args...`
pub fn pinned(core: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("taskset");
    command.arg("-c").arg(core.to_string()).arg(program);
    command
}

/// Pins every thread of this process to `core`, so the harness (probes, pollers) never runs on
/// the server's core.
pub fn pin_self(core: usize) -> Result<(), String> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &core.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -p exited with {status}"))
    }
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Clock ticks per second for `/proc/PID/stat` (`getconf CLK_TCK`; 100 if that fails, the
/// value on every Linux this runs on).
pub fn clock_ticks() -> (f64, bool) {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .map_or((100.0, false), |ticks| (ticks, true))
}

/// utime + stime of a whole process (all its threads, live and exited), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64, String> {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

/// The CPU ticks so far of `pid`'s threads whose name starts with `prefix` (`/proc/PID/task`;
/// the kernel keeps 15 bytes of a thread's name), counting the ones that have ended as nothing.
pub fn thread_cpu_ticks(pid: u32, prefix: &str) -> Result<u64, String> {
    let tasks = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{tasks}: {e}"))?;
    let mut ticks = 0;
    for entry in entries {
        let dir = entry.map_err(|e| format!("{tasks}: {e}"))?.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.starts_with(prefix) {
            ticks += stat_ticks(&dir.join("stat").display().to_string())?;
        }
    }
    Ok(ticks)
}

/// utime + stime of a `stat` file of `/proc` (a process's or a thread's).
fn stat_ticks(path: &str) -> Result<u64, String> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: no ')'"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("{path}: field {} unreadable", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// A core's busy ticks (everything but idle and iowait; steal included, since a stolen tick is
/// one the server could not have) and all its ticks, from `/proc/stat`.
pub fn core_ticks(core: usize) -> Result<(u64, u64), String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    let label = format!("cpu{core}");
    let fields: Vec<u64> = stat
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(label.as_str())).then(|| words.filter_map(|w| w.parse().ok()))
        })
        .ok_or_else(|| format!("/proc/stat: no {label}"))?
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((total.saturating_sub(idle), total))
}

/// Waits until `core` is nearly idle (at most 10% busy over 200 ms) or `limit` has passed,
/// so one run does not inherit the previous run's leftover work: tokengate finishes abandoned
/// password grants (argon2, tens of ms each) after wrk has disconnected. Returns whether the
/// core went idle.
pub fn wait_core_idle(core: usize, limit: Duration) -> Result<bool, String> {
    let deadline = Instant::now() + limit;
    loop {
        let (busy, total) = core_ticks(core)?;
        std::thread::sleep(Duration::from_millis(200));
        let (busy_after, total_after) = core_ticks(core)?;
        let elapsed = total_after.saturating_sub(total).max(1);
        if busy_after.saturating_sub(busy) * 10 <= elapsed {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
    }
}

/// A `VmRSS`-style line of `/proc/self/status`, in bytes.
pub fn self_status_bytes(key: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("/proc/self/status: no {key}"))
}

/// One answer from [`request`].
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end. For probes
/// and seeding only: the measured traffic is wrk's.
pub fn request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Answer, String> {
    let fail = |e: std::io::Error| format!("POST {path} to {addr}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(fail)?;
    stream.set_read_timeout(Some(timeout)).map_err(fail)?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(fail)?;
    stream.write_all(body.as_bytes()).map_err(fail)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(fail)?;
    parse_answer(&raw).ok_or_else(|| format!("POST {path}: unreadable answer"))
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some(Answer {
        status,
        body: raw[split + 4..].to_vec(),
    })
}

/// Connects and sends `GET /healthz` in a tight loop until a 200 comes back; the time from
/// `since` to that answer. Connection refused (not listening yet) is retried at once.
pub fn wait_healthy(addr: SocketAddr, since: Instant, limit: Duration) -> Result<Duration, String> {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    loop {
        if since.elapsed() > limit {
            return Err(format!("no 200 from {addr}/healthz within {limit:?}"));
        }
        let Ok(mut stream) = TcpStream::connect(addr) else {
            std::hint::spin_loop();
            continue;
        };
        let mut answer = [0u8; 16];
        let ok = stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut answer[..12]).is_ok()
            && answer.starts_with(b"HTTP/1.1 200");
        if ok {
            return Ok(since.elapsed());
        }
    }
}

/// A free port on 127.0.0.1 (bound then released) for servers whose address must be known
/// before they print anything.
pub fn free_port() -> Result<SocketAddr, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))
}
