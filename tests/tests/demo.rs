//! The README's demo is a test: every stage must do what it should (the
//! demo checks the counts itself and fails otherwise), beside OVN too.

use std::sync::atomic::AtomicBool;

type Demo = fn(&mut dyn std::io::Write, &AtomicBool) -> Result<(), tests::demo::DemoError>;

/// Runs a demo to its end; returns what it printed.
fn run(demo: Demo) -> String {
    let interrupted = AtomicBool::new(false);
    let mut output = Vec::new();
    let outcome = demo(&mut output, &interrupted);
    let text = String::from_utf8_lossy(&output).into_owned();
    assert!(outcome.is_ok(), "{}\n{text}", outcome.err().map(|e| e.to_string()).unwrap_or_default());
    text
}

#[test]
fn the_demo_shows_every_seed_example_working() {
    let text = run(tests::demo::run);
    assert!(text.contains("== every example did what it should"), "{text}");
}

#[test]
fn the_demo_beside_ovn_mirrors_with_mirror_rows_and_leaves_ovn_as_it_was() {
    let text = run(tests::demo::run_beside_ovn);
    assert!(
        text.contains("== every example did what it should, and OVN's pipeline is as OVN made it"),
        "{text}"
    );
    assert!(text.contains("the agent's flows: 0"), "{text}");
}
