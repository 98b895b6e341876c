use super::*;
use crate::apiserver::cluster::Cluster;

const NOW: Timestamp = Timestamp(1_795_564_800);

fn state() -> ApiState {
    ApiState::trusting(Cluster::new(NOW))
}

fn request(method: &str, target: &str, body: &str) -> Request {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        accept: "application/json".into(),
        content_type: "application/json".into(),
        user_agent: "test/1.0".into(),
        body: body.as_bytes().to_vec(),
        ..Request::default()
    }
}

fn done(reply: Reply) -> Response {
    match reply {
        Reply::Done(response) => response,
        Reply::Watch(plan) => panic!("a watch: {plan:?}"),
    }
}

const TCS: &str = "/apis/crd.antrea.io/v1alpha2/trafficcontrols";

fn seed(state: &mut ApiState, name: &str) -> Response {
    let text =
        std::fs::read_to_string(format!("{}/../fixtures/seed/{name}.yaml", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let object = datapath::manifest::parse_documents(&text).unwrap().remove(0);
    done(handle(state, &request("POST", TCS, &object.to_string()), NOW))
}

#[test]
fn discovery_and_unknown_paths() {
    let mut state = state();
    let groups = done(handle(&mut state, &request("GET", "/apis", ""), NOW));
    assert_eq!(groups.body["kind"], "APIGroupList");
    let missing = done(handle(&mut state, &request("GET", "/apis/batch/v1", ""), NOW));
    assert_eq!((missing.status, missing.body["kind"].as_str()), (404, Some("Status")));
}

#[test]
fn create_get_list_and_delete_a_traffic_control() {
    let mut state = state();
    assert_eq!(seed(&mut state, "mirror-web-app").status, 201);
    assert_eq!(seed(&mut state, "mirror-web-app").body["reason"], "AlreadyExists");
    let got = done(handle(&mut state, &request("GET", &format!("{TCS}/mirror-web-app"), ""), NOW));
    assert_eq!(got.body["spec"]["direction"], "Both");
    let list = done(handle(&mut state, &request("GET", TCS, ""), NOW));
    assert_eq!(list.body["kind"], "TrafficControlList");
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let deleted = done(handle(&mut state, &request("DELETE", &format!("{TCS}/mirror-web-app"), ""), NOW));
    assert_eq!(deleted.body["metadata"]["name"], "mirror-web-app");
    let gone = done(handle(&mut state, &request("GET", &format!("{TCS}/mirror-web-app"), ""), NOW));
    assert_eq!(gone.body["message"], "trafficcontrols.crd.antrea.io \"mirror-web-app\" not found");
}

#[test]
fn kubectl_get_receives_a_table() {
    let mut state = state();
    seed(&mut state, "mirror-web-app");
    let mut get = request("GET", TCS, "");
    get.accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json".into();
    let table = done(handle(&mut state, &get, NOW));
    assert_eq!(table.body["kind"], "Table");
    assert_eq!(table.body["rows"][0]["cells"], serde_json::json!(["mirror-web-app", "Both", "Mirror", "0s"]));
}

#[test]
fn patches_by_content_type() {
    let mut state = state();
    seed(&mut state, "mirror-web-app");
    let mut patch = request("PATCH", &format!("{TCS}/mirror-web-app"), r#"{"spec":{"direction":"Ingress"}}"#);
    patch.content_type = "application/merge-patch+json".into();
    assert_eq!(done(handle(&mut state, &patch, NOW)).body["metadata"]["generation"], 2);
    patch.content_type = "application/json-patch+json".into();
    assert_eq!(done(handle(&mut state, &patch, NOW)).status, 415);
    patch.content_type = "application/apply-patch+yaml".into();
    assert_eq!(done(handle(&mut state, &patch, NOW)).status, 400, "apply needs a fieldManager");
    let mut apply = request(
        "PATCH",
        &format!("{TCS}/mirror-web-app/status?fieldManager=agent-n1"),
        "apiVersion: crd.antrea.io/v1alpha2\nkind: TrafficControl\nstatus:\n  nodes:\n  - node: n1\n",
    );
    apply.content_type = "application/apply-patch+yaml".into();
    let applied = done(handle(&mut state, &apply, NOW));
    assert_eq!(applied.body["status"]["nodes"][0]["node"], "n1");
}

#[test]
fn an_invalid_body_gets_422_with_each_finding_on_a_line() {
    let mut state = state();
    let path = format!("{}/../fixtures/invalid/multi-document.yaml", env!("CARGO_MANIFEST_DIR"));
    let documents = datapath::manifest::parse_documents(&std::fs::read_to_string(path).unwrap()).unwrap();
    let refused = done(handle(&mut state, &request("POST", TCS, &documents[1].to_string()), NOW));
    assert_eq!((refused.status, refused.body["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(
        refused.body["message"],
        "tc/second-bad: spec.direction: \"Sideways\" is not one of Ingress, Egress, Both\n\
         tc/second-bad: spec.targetPort.vxlan.vni: 16777216 is above 16777215"
    );
}

#[test]
fn a_watch_is_answered_with_its_plan_and_bad_selectors_with_400() {
    let mut state = state();
    let reply = handle(
        &mut state,
        &request(
            "GET",
            "/api/v1/pods?watch=1&resourceVersion=1&labelSelector=app%3Dweb&timeoutSeconds=5",
            "",
        ),
        NOW,
    );
    let Reply::Watch(plan) = reply else { panic!("not a watch") };
    assert_eq!((plan.since, plan.send_initial, plan.timeout_seconds), (1, false, Some(5)));
    let bad = done(handle(
        &mut state,
        &request("GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning", ""),
        NOW,
    ));
    assert_eq!(bad.status, 400);
}

#[test]
fn every_request_is_audited() {
    let mut state = state();
    handle(&mut state, &request("GET", "/api/v1/namespaces/default/pods?watch=true", ""), NOW);
    handle(&mut state, &request("GET", "/api", ""), NOW);
    let records: Vec<_> = state.audit.records().cloned().collect();
    assert_eq!(
        (records[0].verb.as_str(), records[0].resource.as_str(), records[0].namespace.as_str()),
        ("watch", "pods", "default")
    );
    assert_eq!((records[1].verb.as_str(), records[1].path.as_str()), ("get", "/api"));
    assert_eq!(records[1].user_agent, "test/1.0");
    let audit = done(handle(&mut state, &request("GET", "/debug/requests", ""), NOW));
    assert_eq!(audit.body["items"].as_array().map(Vec::len), Some(2));
}

/// A server that checks tokens, holding deploy/'s namespace, ServiceAccount
/// and RBAC objects, and the administrator's token.
fn secured() -> (ApiState, String) {
    let credentials = Credentials::generate().expect("random");
    let admin = credentials.admin_token().to_owned();
    let mut state = ApiState { credentials: Some(credentials), ..ApiState::trusting(Cluster::new(NOW)) };
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/");
    for file in ["namespace.yaml", "rbac.yaml"] {
        let text = std::fs::read_to_string(format!("{deploy}{file}")).expect("deploy file");
        for document in datapath::manifest::parse_documents(&text).expect("yaml") {
            let collection = match document["kind"].as_str() {
                Some("Namespace") => "/api/v1/namespaces",
                Some("ServiceAccount") => "/api/v1/namespaces/tc-system/serviceaccounts",
                Some("ClusterRole") => "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                Some("ClusterRoleBinding") => "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                other => panic!("{other:?}"),
            };
            let mut create = request("POST", collection, &document.to_string());
            create.authorization = format!("Bearer {admin}");
            assert_eq!(done(handle(&mut state, &create, NOW)).status, 201);
        }
    }
    (state, admin)
}

fn as_bearer(mut request: Request, token: &str) -> Request {
    request.authorization = format!("Bearer {token}");
    request
}

fn agent_token(state: &mut ApiState, admin: &str) -> String {
    let ask = as_bearer(
        request("POST", "/api/v1/namespaces/tc-system/serviceaccounts/tc-agent/token", "{\"spec\":{}}"),
        admin,
    );
    let answer = done(handle(state, &ask, NOW));
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["status"]["expirationTimestamp"], Timestamp(NOW.0 + 3600).to_string());
    answer.body["status"]["token"].as_str().expect("a token").to_owned()
}

#[test]
fn without_a_known_token_every_path_is_unauthorized() {
    let (mut state, _) = secured();
    for path in ["/version", "/api/v1/pods", "/debug/requests"] {
        let answer = done(handle(&mut state, &request("GET", path, ""), NOW));
        assert_eq!((answer.status, answer.body["reason"].as_str()), (401, Some("Unauthorized")), "{path}");
        let forged = done(handle(&mut state, &as_bearer(request("GET", path, ""), "x.y.z"), NOW));
        assert_eq!(forged.status, 401);
    }
}

#[test]
fn a_requested_token_acts_as_its_service_account_under_rbac() {
    let (mut state, admin) = secured();
    let token = agent_token(&mut state, &admin);
    let list = done(handle(
        &mut state,
        &as_bearer(request("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", ""), &token),
        NOW,
    ));
    assert_eq!(list.status, 200, "{}", list.body);
    let secret_ish = done(handle(
        &mut state,
        &as_bearer(request("GET", "/api/v1/namespaces/tc-system/configmaps", ""), &token),
        NOW,
    ));
    assert_eq!(secret_ish.status, 403);
    assert_eq!(
        secret_ish.body["message"],
        "configmaps is forbidden: User \"system:serviceaccount:tc-system:tc-agent\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"tc-system\""
    );
    let audit = state.audit.records().last().cloned().expect("recorded");
    assert_eq!((audit.user.as_str(), audit.code), ("system:serviceaccount:tc-system:tc-agent", 403));
    // The agent cannot mint tokens, nor become someone else.
    let mint = as_bearer(
        request("POST", "/api/v1/namespaces/tc-system/serviceaccounts/tc-agent/token", "{}"),
        &token,
    );
    assert_eq!(done(handle(&mut state, &mint, NOW)).status, 403);
    let mut become_admin = as_bearer(request("GET", "/api/v1/namespaces", ""), &token);
    become_admin.impersonate_user = "tc-devcluster-admin".into();
    assert_eq!(done(handle(&mut state, &become_admin, NOW)).status, 403);
    // Deleting the ServiceAccount revokes its tokens at once.
    let delete =
        as_bearer(request("DELETE", "/api/v1/namespaces/tc-system/serviceaccounts/tc-agent", ""), &admin);
    assert_eq!(done(handle(&mut state, &delete, NOW)).status, 200);
    let after = done(handle(&mut state, &as_bearer(request("GET", "/api/v1/pods", ""), &token), NOW));
    assert_eq!(after.status, 401);
}

#[test]
fn access_reviews_answer_for_the_caller_or_whom_it_impersonates() {
    let (mut state, admin) = secured();
    let review = |verb: &str, resource: &str, subresource: &str| {
        format!(
            "{{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SelfSubjectAccessReview\",\"spec\":{{\"resourceAttributes\":{{\"verb\":\"{verb}\",\"group\":\"crd.antrea.io\",\"resource\":\"{resource}\",\"subresource\":\"{subresource}\"}}}}}}"
        )
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let mut ask = |body: String, impersonate: &str| {
        let mut request = as_bearer(request("POST", path, &body), &admin);
        request.impersonate_user = impersonate.into();
        let answer = done(handle(&mut state, &request, NOW));
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["status"]["allowed"].as_bool().expect("allowed")
    };
    let agent = "system:serviceaccount:tc-system:tc-agent";
    assert!(ask(review("watch", "trafficcontrols", ""), agent));
    assert!(ask(review("patch", "trafficcontrols", "status"), agent));
    assert!(!ask(review("patch", "trafficcontrols", ""), agent));
    assert!(!ask(review("delete", "trafficcontrols", ""), agent));
    assert!(ask(review("delete", "trafficcontrols", ""), ""), "the administrator may");
}

#[test]
fn a_rules_review_lists_what_the_service_account_may_do() {
    let (mut state, admin) = secured();
    let mut request = as_bearer(
        request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            "{\"spec\":{\"namespace\":\"default\"}}",
        ),
        &admin,
    );
    request.impersonate_user = "system:serviceaccount:tc-system:tc-agent".into();
    let answer = done(handle(&mut state, &request, NOW));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let rules = answer.body["status"]["resourceRules"].as_array().cloned().unwrap_or_default();
    let grants = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r["resources"].as_array().is_some_and(|a| a.iter().any(|x| x == resource))
                && r["verbs"].as_array().is_some_and(|a| a.iter().any(|x| x == verb))
        })
    };
    assert!(
        grants("pods", "watch") && grants("trafficcontrols/status", "patch") && grants("events", "create")
    );
    assert!(!grants("trafficcontrols", "patch"));
    let paths = answer.body["status"]["nonResourceRules"].to_string();
    assert!(paths.contains("/apis/*") && !paths.contains("/debug"), "{paths}");
}

#[test]
fn an_unserved_resource_is_forbidden_as_a_resource_then_not_found() {
    let (mut state, admin) = secured();
    let token = agent_token(&mut state, &admin);
    let denied =
        done(handle(&mut state, &as_bearer(request("GET", "/api/v1/namespaces/a/secrets", ""), &token), NOW));
    assert_eq!(denied.status, 403);
    assert!(
        denied.body["message"].as_str().is_some_and(|m| m.contains("cannot list resource \"secrets\"")),
        "{}",
        denied.body
    );
    let missing =
        done(handle(&mut state, &as_bearer(request("GET", "/api/v1/namespaces/a/secrets", ""), &admin), NOW));
    assert_eq!(missing.status, 404);
}
