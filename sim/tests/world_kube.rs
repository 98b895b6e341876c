//! kube-rs, the agent's API client, against the dev API server on
//! turmoil's network: create, list, and a watch that sees a change.

use std::time::Duration;

use devcluster::ApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use sim::world::apiserver_host::{serve, sim_clock};
use sim::world::kube_client::kube_client;

fn pod(name: &str, app: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "pause"}]}
    }))
    .expect("a Pod")
}

#[test]
fn a_kube_client_creates_lists_and_watches_through_the_simulated_network() {
    let mut sim = turmoil::Builder::new().rng_seed(7).simulation_duration(Duration::from_secs(60)).build();
    sim.host("apiserver", || serve(ApiServer::new(sim_clock())));
    sim.client("agent", async {
        let pods: Api<Pod> = Api::namespaced(kube_client("apiserver"), "default");
        pods.create(&PostParams::default(), &pod("web-1", "web")).await?;
        let listed = pods.list(&Default::default()).await?;
        assert_eq!(listed.items.len(), 1);
        let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
        // The initial list, then a new Pod arrives as an Apply.
        let mut names = Vec::new();
        while let Some(event) = events.try_next().await? {
            match event {
                watcher::Event::InitDone => {
                    pods.create(&PostParams::default(), &pod("web-2", "web")).await?;
                }
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                    names.push(p.metadata.name.unwrap_or_default());
                    if names.len() == 2 {
                        break;
                    }
                }
                _ => {}
            }
        }
        assert_eq!(names, ["web-1", "web-2"]);
        Ok(())
    });
    sim.run().expect("the simulation");
}
