//! Running the `cuntu` binary from the CLI tests, against a given database.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};

/// `cuntu ARGS` with `DATABASE_URL=url`, quiet logs, no backtraces in its errors.
pub fn cuntu(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cuntu"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("cuntu runs")
}

/// What a command printed, standard output then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
