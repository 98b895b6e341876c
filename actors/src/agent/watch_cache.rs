//! A watcher's view, reduced to what the agent decides on: each object is
//! turned into a small value (a `PodInfo`, a validation verdict) and an
//! event is a change only when that value changed. A Pod's status churn,
//! for instance, never wakes the reconciler.
//!
//! A relist (`Init` … `InitDone`) is buffered and swapped in whole, so the
//! view is never a half-listed cluster.

use std::collections::BTreeMap;

use kube::runtime::watcher::Event;

/// Values by object key.
#[derive(Debug)]
pub struct WatchCache<V> {
    items: BTreeMap<String, V>,
    relisting: Option<BTreeMap<String, V>>,
    listed: bool,
}

impl<V> Default for WatchCache<V> {
    fn default() -> Self {
        WatchCache { items: BTreeMap::new(), relisting: None, listed: false }
    }
}

impl<V: PartialEq> WatchCache<V> {
    /// Takes one watcher event; `key` names an object, `view` reduces it
    /// (`None`: not interesting). True when the view changed, or when the
    /// first list completed (even empty: "nothing" is a fact too).
    pub fn apply<K>(
        &mut self,
        event: Event<K>,
        key: impl Fn(&K) -> String,
        view: impl Fn(&K) -> Option<V>,
    ) -> bool {
        match event {
            Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            Event::InitApply(object) => {
                let buffer = self.relisting.get_or_insert_with(BTreeMap::new);
                if let Some(value) = view(&object) {
                    buffer.insert(key(&object), value);
                }
                false
            }
            Event::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                let first = !self.listed;
                self.listed = true;
                let changed = listed != self.items;
                self.items = listed;
                changed || first
            }
            Event::Apply(object) => {
                let name = key(&object);
                match view(&object) {
                    Some(value) => {
                        if self.items.get(&name) == Some(&value) {
                            false
                        } else {
                            self.items.insert(name, value);
                            self.listed
                        }
                    }
                    None => self.items.remove(&name).is_some() && self.listed,
                }
            }
            Event::Delete(object) => self.items.remove(&key(&object)).is_some() && self.listed,
        }
    }

    /// Whether the first list completed.
    pub fn is_listed(&self) -> bool {
        self.listed
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.values()
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pair: &(&str, u32)) -> String {
        pair.0.to_owned()
    }

    fn view(pair: &(&str, u32)) -> Option<u32> {
        // Odd values are "not interesting".
        pair.1.is_multiple_of(2).then_some(pair.1)
    }

    fn apply(cache: &mut WatchCache<u32>, event: Event<(&'static str, u32)>) -> bool {
        cache.apply(event, key, view)
    }

    #[test]
    fn nothing_is_news_before_the_first_list_and_an_empty_list_is() {
        let mut cache = WatchCache::default();
        assert!(!apply(&mut cache, Event::Init));
        assert!(!apply(&mut cache, Event::InitApply(("a", 3))));
        assert!(apply(&mut cache, Event::InitDone), "the first list is news even when empty");
        assert!(cache.is_listed());
        assert_eq!(cache.values().count(), 0);
    }

    #[test]
    fn unchanged_views_are_not_changes() {
        let mut cache = WatchCache::default();
        apply(&mut cache, Event::Init);
        apply(&mut cache, Event::InitApply(("a", 2)));
        apply(&mut cache, Event::InitDone);
        assert!(!apply(&mut cache, Event::Apply(("a", 2))), "same value");
        assert!(apply(&mut cache, Event::Apply(("a", 4))), "new value");
        assert!(apply(&mut cache, Event::Apply(("a", 5))), "no longer interesting: removed");
        assert!(!apply(&mut cache, Event::Apply(("b", 7))), "never interesting");
        assert!(!apply(&mut cache, Event::Delete(("b", 7))));
        assert!(apply(&mut cache, Event::Apply(("b", 8))));
        assert!(apply(&mut cache, Event::Delete(("b", 8))));
    }

    #[test]
    fn a_relist_swaps_in_whole_and_is_news_only_when_different() {
        let mut cache = WatchCache::default();
        for event in [Event::Init, Event::InitApply(("a", 2)), Event::InitApply(("b", 4)), Event::InitDone] {
            apply(&mut cache, event);
        }
        // Same objects again: no change.
        for event in [Event::Init, Event::InitApply(("a", 2)), Event::InitApply(("b", 4))] {
            assert!(!apply(&mut cache, event));
            assert_eq!(cache.values().count(), 2, "the old view stays until the list is complete");
        }
        assert!(!apply(&mut cache, Event::InitDone));
        // "b" was deleted while the watch was down.
        for event in [Event::Init, Event::InitApply(("a", 2))] {
            apply(&mut cache, event);
        }
        assert!(apply(&mut cache, Event::InitDone));
        assert_eq!(cache.values().copied().collect::<Vec<_>>(), [2]);
    }
}
