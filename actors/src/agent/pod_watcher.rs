//! `PodWatcher`: watches this node's Pods (`spec.nodeName=<node>`) and all
//! Namespaces, and tells the reconciler when what selection sees of them
//! changes. Reconnects with kube-rs's default backoff. Each set goes out
//! as [`PublishThrottle`] says, not once per event.

use std::sync::Arc;

use actix::prelude::*;
use datapath::cluster::{NamespaceInfo, PodInfo};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use super::backoff::WatchBackoff;
use super::messages::{NamespacesObserved, PodsObserved};
use super::publish_throttle::{PublishThrottle, publish_soon};
use super::watch_cache::WatchCache;

/// The Pod and Namespace watcher.
pub struct PodWatcher {
    client: Client,
    node: String,
    pods: WatchCache<PodInfo>,
    namespaces: WatchCache<NamespaceInfo>,
    on_pods: Recipient<PodsObserved>,
    on_namespaces: Recipient<NamespacesObserved>,
    publishing_pods: PublishThrottle,
    publishing_namespaces: PublishThrottle,
}

impl PodWatcher {
    /// A watcher of `node`'s Pods.
    pub fn new(
        client: Client,
        node: String,
        on_pods: Recipient<PodsObserved>,
        on_namespaces: Recipient<NamespacesObserved>,
    ) -> Self {
        PodWatcher {
            client,
            node,
            pods: WatchCache::default(),
            namespaces: WatchCache::default(),
            on_pods,
            on_namespaces,
            publishing_pods: PublishThrottle::default(),
            publishing_namespaces: PublishThrottle::default(),
        }
    }
}

impl Actor for PodWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let pods = watcher::watcher(
            Api::<Pod>::all(self.client.clone()),
            watcher::Config::default().fields(&format!("spec.nodeName={}", self.node)),
        )
        .backoff(WatchBackoff::new(&format!("{}/pods", self.node)));
        let namespaces =
            watcher::watcher(Api::<Namespace>::all(self.client.clone()), watcher::Config::default())
                .backoff(WatchBackoff::new(&format!("{}/namespaces", self.node)));
        ctx.add_stream(pods);
        ctx.add_stream(namespaces);
    }
}

fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

impl PodWatcher {
    fn publish_pods(&mut self, _: &mut Context<Self>) {
        let pods: Arc<[PodInfo]> = self.pods.values().cloned().collect();
        tracing::debug!(pods = pods.len(), "this node's Pods changed");
        self.on_pods.do_send(PodsObserved(pods));
    }

    fn publish_namespaces(&mut self, _: &mut Context<Self>) {
        let namespaces: Arc<[NamespaceInfo]> = self.namespaces.values().cloned().collect();
        self.on_namespaces.do_send(NamespacesObserved(namespaces));
    }
}

impl StreamHandler<Result<Event<Pod>, watcher::Error>> for PodWatcher {
    fn handle(&mut self, event: Result<Event<Pod>, watcher::Error>, ctx: &mut Self::Context) {
        match event {
            Ok(event) => {
                let node = self.node.clone();
                // The field selector already filters; a Pod moved off this
                // node (or a server without field selectors) still must not
                // count.
                let view = |pod: &Pod| {
                    let info = PodInfo::from(pod);
                    (info.node_name.as_deref() == Some(node.as_str())).then_some(info)
                };
                if self.pods.apply(event, pod_key, view) {
                    publish_soon(self, ctx, |watcher| &mut watcher.publishing_pods, Self::publish_pods);
                }
            }
            Err(error) => tracing::warn!(%error, "Pod watch failed; retrying with backoff"),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}

impl StreamHandler<Result<Event<Namespace>, watcher::Error>> for PodWatcher {
    fn handle(&mut self, event: Result<Event<Namespace>, watcher::Error>, ctx: &mut Self::Context) {
        match event {
            Ok(event) => {
                let key = |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default();
                if self.namespaces.apply(event, key, |ns| Some(NamespaceInfo::from(ns))) {
                    publish_soon(
                        self,
                        ctx,
                        |watcher| &mut watcher.publishing_namespaces,
                        Self::publish_namespaces,
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "Namespace watch failed; retrying with backoff"),
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {}
}
