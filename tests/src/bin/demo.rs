//! `demo`: the seed's three TrafficControl examples on a real Open vSwitch
//! with real packets, end to end (see `tests::demo`). Run it as root from
//! the repository through `./demo.sh`, which installs what is missing and
//! builds the agent and the dev API server first.
//!
//! `demo --beside-ovn` (`./demo.sh --beside-ovn`) runs it beside a real
//! OVN programming the bridge, the agent in shared mode.
//!
//! Exit code 0 only when every example did what it should; 1 when one did
//! not; 130 when interrupted (everything is torn down first).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use tests::demo::{self, DemoError};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // Ctrl-C only raises a flag: the demo stops at its next step and
    // unwinds, so every namespace, daemon and device it made is removed.
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("\ninterrupted: tearing down");
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
    });
    let mut stdout = std::io::stdout();
    let outcome = match std::env::args().nth(1).as_deref() {
        None => demo::run(&mut stdout, &INTERRUPTED),
        Some("--beside-ovn") => demo::run_beside_ovn(&mut stdout, &INTERRUPTED),
        Some(other) => {
            eprintln!("demo: unknown argument {other:?}; usage: demo [--beside-ovn]");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ DemoError::Interrupted) => {
            eprintln!("demo: {error}");
            ExitCode::from(130)
        }
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}
