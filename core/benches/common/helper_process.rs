//! A helper process for benchmarks that keep a floor out of the engine's process (SQLite as
//! bundled pools the page caches of every connection in a process): the benchmark's own program
//! started again with other arguments, taking one order per line on stdin and answering one line
//! on stdout. Used by the examples `bench_ingest_scale` and `bench_import`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The parent's handle: orders go out, answers come back; dropping it ends the process.
pub struct Helper {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Helper {
    /// Starts this program again with `args`.
    pub fn start<S: AsRef<OsStr>>(args: &[S]) -> Self {
        let exe = std::env::current_exe().expect("own path");
        let mut child =
            Command::new(exe).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("helper process");
        let to = child.stdin.take().expect("stdin");
        let from = BufReader::new(child.stdout.take().expect("stdout"));
        Helper { child, to, from }
    }

    /// Sends one order and waits for its answer.
    pub fn ask(&mut self, order: &str) -> String {
        writeln!(self.to, "{order}").and_then(|_| self.to.flush()).expect("order");
        let mut line = String::new();
        self.from.read_line(&mut line).expect("answer");
        line.trim().to_string()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = writeln!(self.to, "quit");
        let _ = self.child.wait();
    }
}

/// The helper's side: answers each order with `answer` until it returns `None` (or stdin ends).
pub fn serve(mut answer: impl FnMut(&str) -> Option<String>) {
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Some(reply) = answer(&line.expect("order")) else { break };
        writeln!(out, "{reply}").and_then(|_| out.flush()).expect("answer");
    }
}
