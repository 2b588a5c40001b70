//! Discovery: the documents clients read to learn which groups, versions
//! and resources this server has.
//!
//! They never change while the server runs, so they are constants, byte for
//! byte what metrics-server (`/apis…`) and the kube-apiserver (`/api…`, in
//! standalone mode) answer.
//!
//! Only legacy discovery is served. kubectl 1.27+ asks `/api` and `/apis`
//! preferring aggregated discovery
//! (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…,application/json`);
//! client-go picks the parser by the response's `Content-Type`, and a plain
//! `application/json` answer makes it read an `APIVersions` /
//! `APIGroupList` and fetch each group version's resource list, which works
//! with every kubectl from 1.27 to 1.33.
//!
//! Without the core API, `/api` is answered as metrics-server answers it: a
//! 404 whose body lists the paths the server has (the generic API server's
//! index), which client-go's discovery reads as "no legacy group".

/// `/apis`.
pub(crate) const API_GROUP_LIST: &str = concat!(
    r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"metrics.k8s.io","#,
    r#""versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"#,
    r#""preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}]}"#
);

/// `/apis/metrics.k8s.io`.
pub(crate) const METRICS_API_GROUP: &str = concat!(
    r#"{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","#,
    r#""versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"#,
    r#""preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}"#
);

/// `/apis/metrics.k8s.io/v1beta1`.
pub(crate) const METRICS_RESOURCES: &str = concat!(
    r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":["#,
    r#"{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},"#,
    r#"{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#
);

/// `/api/v1` in standalone mode: the two core resources this server
/// answers, named as the kube-apiserver names them (short names included,
/// so `kubectl get no` and `get po` work).
pub(crate) const CORE_RESOURCES: &str = concat!(
    r#"{"kind":"APIResourceList","groupVersion":"v1","resources":["#,
    r#"{"name":"nodes","singularName":"node","namespaced":false,"kind":"Node","verbs":["get","list"],"shortNames":["no"]},"#,
    r#"{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"],"categories":["all"]}]}"#
);

/// `/api` in standalone mode: the `v1` legacy version, at the address the
/// client used (`serverAddressByClientCIDRs` tells a client where to reach
/// the server; the `Host` it already reached us by is right).
pub(crate) fn core_versions(host: Option<&str>) -> Vec<u8> {
    let addresses = match host {
        Some(host) => format!(
            r#"[{{"clientCIDR":"0.0.0.0/0","serverAddress":{}}}]"#,
            serde_json::Value::from(host)
        ),
        None => "null".to_owned(),
    };
    format!(
        r#"{{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":{addresses}}}"#
    )
    .into_bytes()
}

/// The generic API server's index (`metav1.RootPaths`): every path this
/// server answers, sorted. Served on `/`, and as the body of metrics-server's
/// 404 for `/api`.
pub(crate) fn root_paths(core_api: bool) -> Vec<u8> {
    let mut paths = vec![
        "/apis",
        "/apis/metrics.k8s.io",
        "/apis/metrics.k8s.io/v1beta1",
        "/healthz",
        "/livez",
        "/metrics",
        "/readyz",
    ];
    if core_api {
        paths.extend(["/api", "/api/v1"]);
    }
    paths.sort_unstable();
    let mut body = b"{\"paths\":".to_vec();
    // A list of plain strings always serialises.
    let _ = serde_json::to_writer(&mut body, &paths);
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn the_constants_are_valid_json_of_the_right_kinds() {
        for (text, kind) in [
            (API_GROUP_LIST, "APIGroupList"),
            (METRICS_API_GROUP, "APIGroup"),
            (METRICS_RESOURCES, "APIResourceList"),
            (CORE_RESOURCES, "APIResourceList"),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value["kind"], kind, "{text}");
        }
    }

    #[test]
    fn the_metrics_resource_list_is_metrics_servers() {
        assert_eq!(
            METRICS_RESOURCES,
            r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#
        );
    }

    #[test]
    fn versions_name_the_address_the_client_used() {
        let body: Value = serde_json::from_slice(&core_versions(Some("127.0.0.1:8443"))).unwrap();
        assert_eq!(body["versions"], serde_json::json!(["v1"]));
        assert_eq!(
            body["serverAddressByClientCIDRs"][0]["serverAddress"],
            "127.0.0.1:8443"
        );
        let body: Value = serde_json::from_slice(&core_versions(None)).unwrap();
        assert!(body["serverAddressByClientCIDRs"].is_null());
    }

    #[test]
    fn the_index_lists_the_core_paths_only_in_standalone_mode() {
        let paths = |core| -> Value { serde_json::from_slice(&root_paths(core)).unwrap() };
        assert_eq!(paths(false)["paths"][0], "/apis");
        assert_eq!(paths(true)["paths"][0], "/api");
        assert_eq!(paths(true)["paths"][1], "/api/v1");
        assert_eq!(paths(true)["paths"].as_array().map(Vec::len), Some(9));
    }
}
