//! The two examples of kubectl-top.md, byte for byte (trailing spaces
//! included), and the requests behind them.

use workingset_top::{TopNodeOptions, TopPodOptions};

use crate::support::{Example, Outcome, top_node, top_pod};

#[test]
fn top_node_example() {
    let mut source = Example::nodes();
    let outcome = top_node(&TopNodeOptions::default(), &mut source);
    assert_eq!(
        outcome,
        Outcome {
            stdout: concat!(
                "NAME     CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   \n",
                "node-a   251m         6%          8123Mi          58%         \n",
                "node-b   1022m        52%         2048Mi          34%         \n",
                "node-c   <unknown>    <unknown>   <unknown>       <unknown>   \n",
            )
            .to_owned(),
            stderr: String::new(),
            code: 0,
        }
    );
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/nodes",
            "/api/v1/nodes"
        ]
    );
}

#[test]
fn top_pod_all_namespaces_containers_sum_example() {
    let mut source = Example::pods();
    let options = TopPodOptions {
        all_namespaces: true,
        containers: true,
        sum: true,
        ..TopPodOptions::default()
    };
    let outcome = top_pod(&options, &mut source);
    assert_eq!(
        outcome.stdout,
        concat!(
            "NAMESPACE     POD         NAME       CPU(cores)   MEMORY(bytes)   \n",
            "default       api-7       api        0m           0Mi             \n",
            "default       db-0        postgres   15m          200Mi           \n",
            "default       web-1       nginx      2m           10Mi            \n",
            "default       web-1       sidecar    1m           1Mi             \n",
            "kube-system   coredns-1   coredns    3m           19Mi            \n",
            "                                     ________     ________        \n",
            "                                     20m          231Mi           \n",
        )
    );
    assert_eq!((outcome.stderr.as_str(), outcome.code), ("", 0));
    assert_eq!(
        source.requests,
        ["/api", "/apis", "/apis/metrics.k8s.io/v1beta1/pods"]
    );
}
