use super::*;
use crate::apiserver::selectors::{parse_fields, parse_labels};

const NOW: &str = "2026-11-25T00:00:00Z";

fn pod(name: &str, node: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": app}}, "spec": {"nodeName": node}})
}

fn everything() -> (Selector, FieldSelector) {
    (parse_labels("").unwrap(), parse_fields("").unwrap())
}

#[test]
fn create_sets_identity_version_and_namespace() {
    let mut store = Store::new(100);
    let created = store.create("pods", Some("default"), pod("web-1", "n1", "web"), NOW).unwrap();
    assert_eq!(created["metadata"]["namespace"], "default");
    assert_eq!(created["metadata"]["resourceVersion"], "2");
    assert_eq!(created["metadata"]["creationTimestamp"], NOW);
    assert!(created["metadata"]["uid"].as_str().is_some_and(|u| u.len() == 36));
    assert_eq!(
        store.create("pods", Some("default"), pod("web-1", "n1", "web"), NOW).unwrap_err().status(),
        409
    );
    assert!(
        store.create("pods", Some("prod"), pod("web-1", "n1", "web"), NOW).is_ok(),
        "names are per namespace"
    );
}

#[test]
fn a_stale_update_is_a_conflict_and_a_current_one_bumps_the_version() {
    let mut store = Store::new(100);
    let created = store
        .create("trafficcontrols", None, json!({"metadata": {"name": "t"}, "spec": {"a": 1}}), NOW)
        .unwrap();
    let mut update = created.clone();
    update["spec"]["a"] = json!(2);
    let updated = store.replace("trafficcontrols", None, "t", update.clone()).unwrap();
    assert_eq!(
        (updated["metadata"]["generation"].as_u64(), updated["metadata"]["uid"].clone()),
        (Some(2), created["metadata"]["uid"].clone())
    );
    let stale = store.replace("trafficcontrols", None, "t", update).unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale}");
    assert_eq!(stale.status(), 409);
}

#[test]
fn merge_patch_adds_changes_and_removes_keys() {
    let mut store = Store::new(100);
    store.create("pods", Some("default"), pod("web-1", "n1", "web"), NOW).unwrap();
    let patched = store
        .merge_patch(
            "pods",
            Some("default"),
            "web-1",
            &json!({"metadata": {"labels": {"app": null, "tier": "front"}}}),
        )
        .unwrap();
    assert_eq!(patched["metadata"]["labels"], json!({"tier": "front"}));
    assert_eq!(patched["spec"]["nodeName"], "n1");
}

#[test]
fn lists_filter_by_namespace_labels_and_fields() {
    let mut store = Store::new(100);
    store.create("pods", Some("default"), pod("a", "n1", "web"), NOW).unwrap();
    store.create("pods", Some("default"), pod("b", "n2", "web"), NOW).unwrap();
    store.create("pods", Some("prod"), pod("c", "n1", "db"), NOW).unwrap();
    let names = |items: Vec<Value>| {
        items.iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let (on_n1, version) =
        store.list("pods", None, &parse_labels("").unwrap(), &parse_fields("spec.nodeName=n1").unwrap());
    assert_eq!((names(on_n1), version), (vec!["a".to_owned(), "c".to_owned()], 4));
    let (web_in_default, _) =
        store.list("pods", Some("default"), &parse_labels("app=web").unwrap(), &parse_fields("").unwrap());
    assert_eq!(names(web_in_default), ["a", "b"]);
}

#[test]
fn watches_see_changes_through_their_selectors() {
    let mut store = Store::new(100);
    let start = store.revision();
    store.create("pods", Some("default"), pod("a", "n1", "web"), NOW).unwrap();
    store.merge_patch("pods", Some("default"), "a", &json!({"metadata": {"labels": {"app": "db"}}})).unwrap();
    store
        .merge_patch("pods", Some("default"), "a", &json!({"metadata": {"labels": {"app": "web"}}}))
        .unwrap();
    store.delete("pods", Some("default"), "a").unwrap();
    let web = parse_labels("app=web").unwrap();
    let kinds: Vec<EventType> = store
        .events_since("pods", None, start, &web, &parse_fields("").unwrap())
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.kind)
        .collect();
    assert_eq!(kinds, [EventType::Added, EventType::Deleted, EventType::Added, EventType::Deleted]);
    let (all, fields) = everything();
    let everything: Vec<EventType> = store
        .events_since("pods", None, start, &all, &fields)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e.kind)
        .collect();
    assert_eq!(everything, [EventType::Added, EventType::Modified, EventType::Modified, EventType::Deleted]);
}

#[test]
fn a_watch_older_than_the_history_is_gone_and_must_relist() {
    let mut store = Store::new(2);
    let start = store.revision();
    for name in ["a", "b", "c"] {
        store.create("pods", Some("default"), pod(name, "n1", "web"), NOW).unwrap();
    }
    let (all, fields) = everything();
    assert_eq!(store.events_since("pods", None, start, &all, &fields).unwrap_err().status(), 410);
    let recent = store.revision() - 1;
    assert_eq!(store.events_since("pods", None, recent, &all, &fields).unwrap().len(), 1);
    store.forget_history();
    assert!(
        store.events_since("pods", None, recent, &all, &fields).is_err(),
        "a restart forgets the history"
    );
    assert!(store.events_since("pods", None, store.revision(), &all, &fields).unwrap().is_empty());
}

#[test]
fn a_snapshot_restores_objects_and_counters_but_not_the_history() {
    let mut store = Store::new(100);
    let start = store.revision();
    store.create("pods", Some("default"), pod("a", "n1", "web"), NOW).unwrap();
    store.create("trafficcontrols", None, json!({"metadata": {"name": "t"}}), NOW).unwrap();
    let mut restored = Store::restore(&store.snapshot(), 100).unwrap();
    assert_eq!(restored.revision(), store.revision());
    assert_eq!(restored.get("pods", Some("default"), "a"), store.get("pods", Some("default"), "a"));
    let (all, fields) = everything();
    assert_eq!(restored.events_since("pods", None, start, &all, &fields).unwrap_err().status(), 410);
    let next = restored.create("pods", Some("default"), pod("b", "n1", "web"), NOW).unwrap();
    assert_eq!(next["metadata"]["resourceVersion"], (store.revision() + 1).to_string());
    assert_ne!(next["metadata"]["uid"], store.get("pods", Some("default"), "a").unwrap()["metadata"]["uid"]);
    assert!(Store::restore(&json!({"revision": "x"}), 100).is_err());
}
