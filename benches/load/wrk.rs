//! Driving `wrk`: writing a scenario's Lua script, running it pinned to the load core with one
//! thread, and reading the `LOADRESULT` line `report.lua` prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::procs::{self, ChildGuard};

const REPORT_LUA: &str = include_str!("report.lua");
const REFRESH_LUA: &str = include_str!("refresh.lua");

/// A placeholder with the length of a dashed-GUID refresh token, so a request that carries it
/// has the size of a real one.
const PLACEHOLDER_TOKEN: &str = "00000000-0000-0000-0000-000000000000";

/// Requests that take longer count as timeouts, not latencies. Password grants queue behind one
/// hash verifier (tens of ms each), so at 64 connections seconds are normal.
const TIMEOUT: &str = "20s";

/// What a script sends.
pub enum Script<'a> {
    /// The same request every time; with `delay_ms`, each connection waits that long before
    /// each request (wrk's `delay()`), which caps the offered load at connections / delay.
    Fixed {
        content_type: &'a str,
        accept: Option<&'a str>,
        body: &'a str,
        delay_ms: Option<u32>,
    },
    /// A refresh-token grant redeeming a never-used token each time (see `refresh.lua`).
    Refresh {
        content_type: &'a str,
        body_prefix: &'a str,
        seeds: &'a [String],
    },
}

/// A Lua long string; the bodies are ours and never contain the closing bracket.
fn lua_string(text: &str) -> Result<String, String> {
    if text.contains("]==]") {
        return Err(format!("cannot quote {text:?} for Lua"));
    }
    Ok(format!("[==[{text}]==]"))
}

/// Writes the script for `script` to `path`.
pub fn write_script(path: &Path, script: &Script<'_>) -> Result<PathBuf, String> {
    let mut lua = String::from("wrk.method = \"POST\"\n");
    match script {
        Script::Fixed {
            content_type,
            accept,
            body,
            delay_ms,
        } => {
            lua.push_str(&format!(
                "wrk.headers[\"Content-Type\"] = {}\n",
                lua_string(content_type)?
            ));
            if let Some(accept) = accept {
                lua.push_str(&format!(
                    "wrk.headers[\"Accept\"] = {}\n",
                    lua_string(accept)?
                ));
            }
            // No request() function: wrk builds the request once and resends the bytes.
            lua.push_str(&format!("wrk.body = {}\n", lua_string(body)?));
            if let Some(ms) = delay_ms {
                lua.push_str(&format!("function delay() return {ms} end\n"));
            }
        }
        Script::Refresh {
            content_type,
            body_prefix,
            seeds,
        } => {
            lua.push_str(&format!(
                "wrk.headers[\"Content-Type\"] = {}\n",
                lua_string(content_type)?
            ));
            lua.push_str(&format!("BODY_PREFIX = {}\n", lua_string(body_prefix)?));
            lua.push_str(&format!("PLACEHOLDER = \"{PLACEHOLDER_TOKEN}\"\n"));
            lua.push_str("SEEDS = {\n");
            for seed in *seeds {
                lua.push_str(&format!("  {},\n", lua_string(seed)?));
            }
            lua.push_str("}\n");
            lua.push_str(REFRESH_LUA);
        }
    }
    lua.push('\n');
    lua.push_str(REPORT_LUA);
    std::fs::write(path, lua).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// One run's figures, as wrk saw them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Answers received, whatever their status.
    pub requests: u64,
    pub duration_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Answers with status >= 400.
    pub status_errors: u64,
    /// connect + read + write errors and timeouts.
    pub socket_errors: u64,
}

impl Figures {
    /// Successful answers only: an error page is not a served token.
    pub fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.status_errors)
    }

    pub fn errors(&self) -> u64 {
        self.status_errors + self.socket_errors
    }
}

/// A wrk command line: one thread (the load core is one core), `connections` connections.
pub struct Load<'a> {
    pub script: &'a Path,
    pub url: String,
    pub connections: u32,
    pub seconds: u32,
    pub core: usize,
}

/// A wrk process started in the background (the password flood).
pub struct Running {
    child: ChildGuard,
}

impl Load<'_> {
    fn command(&self) -> Command {
        let mut command = procs::pinned(self.core, "wrk");
        command
            .args(["-t1", "--timeout", TIMEOUT])
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.seconds))
            .arg("-s")
            .arg(self.script)
            .arg(&self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs wrk to completion (it stops after `seconds`).
    pub fn run(&self) -> Result<Figures, String> {
        self.start()?.finish()
    }

    pub fn start(&self) -> Result<Running, String> {
        let child = ChildGuard::spawn(&mut self.command(), format!("wrk on {}", self.url))?;
        Ok(Running { child })
    }
}

impl Running {
    pub fn finish(self) -> Result<Figures, String> {
        let output = self.child.wait_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        parse(&stdout).ok_or_else(|| {
            format!(
                "wrk ({}) printed no LOADRESULT line:\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

fn parse(stdout: &str) -> Option<Figures> {
    let line = stdout.lines().find(|l| l.starts_with("LOADRESULT "))?;
    let value = |key: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some(Figures {
        requests: value("requests")? as u64,
        duration_s: value("duration_us")? / 1e6,
        p50_us: value("p50_us")?,
        p99_us: value("p99_us")?,
        status_errors: value("status")? as u64,
        socket_errors: (value("connect")? + value("read")? + value("write")? + value("timeout")?)
            as u64,
    })
}
