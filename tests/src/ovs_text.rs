//! How OVS prints flows in its different tools, for comparing our text
//! with theirs.

/// A flow in our (dump-flows) text, as `ovs-ofctl ofp-parse` and
/// `parse-flows` print its flow_mod: `ADD [table:N ]priority=P,MATCHES
/// cookie:C actions=A` (table 0 left out, as dump-flows leaves it out).
pub fn as_flow_mod_add(flow_text: &str) -> String {
    let (head, actions) = flow_text.split_once(" actions=").expect("actions");
    let (cookie, rest) = head.split_once(", ").expect("cookie");
    let cookie = cookie.trim_start_matches("cookie=");
    let (table, rest) = match rest.strip_prefix("table=") {
        Some(tail) => tail.split_once(", ").map(|(t, r)| (format!("table:{t} "), r)).expect("table"),
        None => (String::new(), rest),
    };
    format!("ADD {table}{rest} cookie:{cookie} actions={actions}")
}
