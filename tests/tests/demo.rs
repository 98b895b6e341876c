//! The README's demo is a test: every stage must do what it should (the
//! demo checks the counts itself and fails otherwise).

use std::sync::atomic::AtomicBool;

#[test]
fn the_demo_shows_every_seed_example_working() {
    let interrupted = AtomicBool::new(false);
    let mut output = Vec::new();
    let outcome = tests::demo::run(&mut output, &interrupted);
    let text = String::from_utf8_lossy(&output);
    assert!(outcome.is_ok(), "{}\n{text}", outcome.err().map(|e| e.to_string()).unwrap_or_default());
    assert!(text.contains("== every example did what it should"), "{text}");
}
