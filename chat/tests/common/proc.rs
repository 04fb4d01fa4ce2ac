//! The one way tests run the `chat` binary as a process: start it with
//! arguments and environment, wait for the address its banner prints, keep its
//! stderr in a log file, SIGKILL or SIGTERM it, and kill it when dropped.
//!
//! Only `std` here: `loadtest/tests/` include this file with `#[path]`
//! (another crate, which finds the binary with [`sibling_chat_bin`]), so it
//! must not name anything of the `chat` crate or of `common`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `chat` binary as another package's tests find it (`loadtest`'s):
/// `CHAT_BIN`, else `<target-dir>/debug/chat` beside the test's own
/// executable (`<target-dir>/debug/deps/<test>-<hash>`).
pub fn sibling_chat_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CHAT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(format!("chat{}", std::env::consts::EXE_SUFFIX)))
        .expect("target directory of the test executable")
}

/// How a process is started; [`Spawn::start`] runs it.
pub struct Spawn {
    /// The executable.
    bin: PathBuf,
    /// Arguments, in order.
    args: Vec<OsString>,
    /// Extra environment variables.
    envs: Vec<(OsString, OsString)>,
    /// Where its stderr (its tracing output) goes.
    log: PathBuf,
}

impl Spawn {
    /// `bin` with no arguments, logging to `log`, at `RUST_LOG=warn` unless an
    /// `env` overrides it.
    pub fn new(bin: impl Into<PathBuf>, log: impl Into<PathBuf>) -> Spawn {
        Spawn {
            bin: bin.into(),
            args: Vec::new(),
            envs: vec![("RUST_LOG".into(), "warn".into())],
            log: log.into(),
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Spawn {
        self.args.push(a.into());
        self
    }

    pub fn args<A: Into<OsString>>(mut self, args: impl IntoIterator<Item = A>) -> Spawn {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Spawn {
        self.envs.push((k.into(), v.into()));
        self
    }

    pub fn envs<K: Into<OsString>, V: Into<OsString>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Spawn {
        self.envs
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Starts the process and waits for the first line of its stdout, the
    /// banner naming `http://ADDR` (a server's listen address, a worker's
    /// metrics address). Panics with the log if it exits first.
    pub fn start(self) -> ChatProc {
        assert!(
            self.bin.is_file(),
            "no executable at {}: build it first",
            self.bin.display()
        );
        let log_file = std::fs::File::create(&self.log)
            .unwrap_or_else(|e| panic!("log file {}: {e}", self.log.display()));
        let mut child = Command::new(&self.bin)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.bin.display()));
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        out.read_line(&mut banner).expect("read the banner");
        let addr = banner
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string);
        let Some(addr) = addr else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "{} {:?} printed no address (banner {banner:?}, exit {status:?}); log:\n{}",
                self.bin.display(),
                self.args,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        ChatProc {
            child,
            addr,
            log: self.log,
            reaped: false,
        }
    }
}

/// A running process; SIGKILLed when dropped. When dropped during a panic it
/// prints whether it was still running and the end of its log.
pub struct ChatProc {
    child: Child,
    /// The address from its banner (`HOST:PORT`).
    pub addr: String,
    /// Its stderr.
    pub log: PathBuf,
    /// Already waited for: nothing left to kill.
    reaped: bool,
}

impl ChatProc {
    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        read_log(&self.log)
    }

    /// Waits up to `wait` for the process to exit by itself; its status.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = true;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        self.reaped = true;
    }

    /// SIGTERM, then waits for the exit; returns the exit status and how long
    /// the process took to stop.
    pub fn terminate(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {}", self.child.id());
        let exit = self.child.wait().expect("wait");
        self.reaped = true;
        (exit, started.elapsed())
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for ChatProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: say whether this process was still running and
            // show the end of its log (the temp dir holding it goes next).
            let state = match self.child.try_wait() {
                Ok(Some(status)) => format!("had exited: {status}"),
                Ok(None) => "was running".to_string(),
                Err(e) => format!("state unknown: {e}"),
            };
            let log = read_log(&self.log);
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            eprintln!(
                "--- {} {state}; last lines of its log:\n{tail}",
                self.log.display()
            );
        }
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
