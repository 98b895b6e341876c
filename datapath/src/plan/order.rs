//! Which TrafficControl comes first when several want the same Pod or the
//! same port name: the oldest (`creationTimestamp`), then the name. Every
//! node and every restart agrees, unlike Antrea's arbitrary pick. Objects
//! without a timestamp (not yet created, or offline input) come last.

use crate::api::TrafficControl;

/// The TrafficControls in precedence order; of two with the same name, the
/// first in the input is kept.
pub fn precedence(traffic_controls: &[TrafficControl]) -> Vec<&TrafficControl> {
    let mut ordered: Vec<&TrafficControl> = traffic_controls.iter().collect();
    ordered.sort_by(|a, b| {
        let key = |tc: &TrafficControl| {
            let created = tc.metadata.creation_timestamp.clone();
            (created.is_none(), created, tc.metadata.name.clone())
        };
        key(a).cmp(&key(b))
    });
    let mut seen = std::collections::HashSet::new();
    ordered.retain(|tc| seen.insert(tc.metadata.name.clone()));
    ordered
}
