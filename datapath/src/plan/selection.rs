//! Which Pods each TrafficControl selects, and which TrafficControl wins
//! each Pod.
//!
//! Selection runs on bitsets over this node's Pods (sorted by Namespace,
//! then name, so each Namespace is a contiguous range): a selector costs
//! one pass over the Pods that carry its keys, and identical selectors are
//! evaluated once. The winner of a Pod is the first TrafficControl in
//! precedence order that selects it; the others are conflicts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use super::Cluster;
use crate::api::{LabelSelector, TrafficControl};
use crate::cluster::{NamespaceInfo, PodInfo, PodRef, PodSet};
use crate::selector::{Bitset, LabelIndex, Selector};

pub(super) struct Selection {
    /// This node's selectable Pods, in (Namespace, name) order.
    pub universe: Arc<[PodRef]>,
    pub effective: BTreeMap<PodRef, String>,
    /// By TrafficControl: the Pods it controls, and those an older one took.
    pub won: HashMap<String, PodSet>,
    pub lost: HashMap<String, PodSet>,
}

/// This node's selectable Pods and their Namespaces, indexed.
struct Universe<'a> {
    pods: Vec<&'a PodInfo>,
    pod_index: LabelIndex<'a>,
    namespace_index: LabelIndex<'a>,
    namespace_pods: Vec<Range<usize>>,
}

pub(super) fn select(
    cluster: &Cluster,
    ordered: &[&TrafficControl],
    failed: &BTreeMap<String, String>,
) -> Selection {
    let synthesized = missing_namespaces(cluster);
    let universe = Universe::new(cluster, &synthesized);
    let mut cache = SelectionCache::default();

    let count = universe.pods.len();
    let pod_refs: Arc<[PodRef]> = universe.pods.iter().map(|p| p.pod.clone()).collect();
    let mut claimed = Bitset::empty(count);
    let mut owner: Vec<Option<usize>> = vec![None; count];
    let mut won = HashMap::new();
    let mut lost = HashMap::new();
    for (rank, tc) in ordered.iter().enumerate() {
        let name = tc.metadata.name.clone().unwrap_or_default();
        if failed.contains_key(&name) {
            continue; // a TrafficControl that cannot be realized claims nothing
        }
        let selected = cache.applied_to(&universe, &tc.spec.applied_to);
        let mut taken = selected.clone();
        taken.intersect(&claimed);
        let mut winning = selected.clone();
        winning.subtract(&claimed);
        for i in winning.iter() {
            owner[i] = Some(rank);
        }
        claimed.union(&selected);
        won.insert(name.clone(), PodSet::new(pod_refs.clone(), winning));
        lost.insert(name, PodSet::new(pod_refs.clone(), taken));
    }
    let effective = owner
        .iter()
        .enumerate()
        .filter_map(|(i, rank)| {
            let name = ordered[(*rank)?].metadata.name.clone().unwrap_or_default();
            Some((pod_refs[i].clone(), name))
        })
        .collect();
    Selection { universe: pod_refs, effective, won, lost }
}

/// Namespaces of this node's Pods that the input does not describe.
fn missing_namespaces(cluster: &Cluster) -> Vec<NamespaceInfo> {
    let known: BTreeSet<&str> = cluster.namespaces.iter().map(|n| n.name.as_str()).collect();
    let wanted: BTreeSet<&str> = cluster.pods.iter().map(|p| p.pod.namespace.as_str()).collect();
    wanted.difference(&known).map(|name| NamespaceInfo::named(name)).collect()
}

impl<'a> Universe<'a> {
    fn new(cluster: &'a Cluster, synthesized: &'a [NamespaceInfo]) -> Self {
        let mut pods: Vec<&PodInfo> = cluster
            .pods
            .iter()
            .filter(|p| !p.host_network && p.node_name.as_deref() == Some(cluster.node.as_str()))
            .collect();
        pods.sort_by(|a, b| a.pod.cmp(&b.pod));
        pods.dedup_by(|a, b| a.pod == b.pod);

        let mut namespaces: BTreeMap<&str, &NamespaceInfo> = BTreeMap::new();
        for namespace in cluster.namespaces.iter().chain(synthesized) {
            namespaces.entry(namespace.name.as_str()).or_insert(namespace);
        }
        let namespace_pods = namespaces
            .keys()
            .map(|ns| {
                let start = pods.partition_point(|p| p.pod.namespace.as_str() < *ns);
                let end = pods.partition_point(|p| p.pod.namespace.as_str() <= *ns);
                start..end
            })
            .collect();
        Universe {
            pod_index: LabelIndex::new(pods.iter().map(|p| &p.labels).collect::<Vec<_>>()),
            namespace_index: LabelIndex::new(namespaces.values().map(|n| &n.labels).collect::<Vec<_>>()),
            pods,
            namespace_pods,
        }
    }
}

/// Evaluated selectors, so TrafficControls that share one pay once.
#[derive(Default)]
struct SelectionCache {
    pods: HashMap<Selector, Bitset>,
    namespaces: HashMap<Selector, Bitset>,
}

impl SelectionCache {
    fn applied_to(&mut self, universe: &Universe<'_>, applied_to: &crate::api::AppliedTo) -> Bitset {
        let count = universe.pods.len();
        let by_pod = applied_to.pod_selector.as_ref().map(|s| self.pods_matching(universe, s));
        let by_namespace =
            applied_to.namespace_selector.as_ref().map(|s| self.pods_in_namespaces(universe, s));
        match (by_pod, by_namespace) {
            (None, None) => Bitset::empty(count),
            (Some(set), None) | (None, Some(set)) => set,
            (Some(mut pods), Some(in_namespaces)) => {
                pods.intersect(&in_namespaces);
                pods
            }
        }
    }

    fn pods_matching(&mut self, universe: &Universe<'_>, selector: &LabelSelector) -> Bitset {
        let compiled = Selector::compile(selector);
        self.pods.entry(compiled).or_insert_with_key(|s| universe.pod_index.select(s)).clone()
    }

    fn pods_in_namespaces(&mut self, universe: &Universe<'_>, selector: &LabelSelector) -> Bitset {
        let compiled = Selector::compile(selector);
        self.namespaces
            .entry(compiled)
            .or_insert_with_key(|s| {
                let mut pods = Bitset::empty(universe.pods.len());
                for ns in universe.namespace_index.select(s).iter() {
                    pods.insert_range(universe.namespace_pods[ns].clone());
                }
                pods
            })
            .clone()
    }
}
