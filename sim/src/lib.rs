//! The simulated world (turmoil): API server, Open vSwitch and collector.
//!
//! Empty until the simulation issue; it builds so the workspace shape is
//! the design card's from the first commit.
