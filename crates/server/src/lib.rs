//! The metrics server: what metrics-server does, on the wire and in its
//! semantics, with its known failure modes fixed on purpose.
//!
//! Data flow, one tick every `--metric-resolution`:
//!
//! 1. The nodes to scrape and how to reach each: in standalone mode
//!    [`target`] (the command line); in Kubernetes mode [`cluster`] (Node
//!    objects watched from the API server, addresses by type, the node's
//!    port and path annotation, and its Running pods).
//! 2. `workingset_kubeclient::kubelet`: one bounded HTTP GET (timeout, size cap, TLS, bearer
//!    token) per node and path.
//! 3. [`decode`]: a kubelet `/metrics/resource` body → a [`point::NodeBatch`].
//! 4. [`inventory`]: the node and pod objects (labels, capacity, creation
//!    time) that the Metrics API joins with usage; in standalone mode read
//!    from the agents themselves, in Kubernetes mode the watched objects.
//! 5. [`store`]: the last points per node and container, and the rate rules
//!    (metrics-server's, with the documented improvements).
//! 6. [`view`]: store + inventory → a [`view::Published`] snapshot, swapped
//!    in atomically; request handlers only read snapshots.
//! 7. [`api`]: the HTTP surface — discovery, the Metrics API, the read-only
//!    core requests kubectl makes in standalone mode, health, `/metrics`.
//! 8. [`run`]: the tick loop and the server's lifetime; [`telemetry`]: its
//!    own figures (`/metrics`) and probes (`/livez`, `/readyz`).
//! 9. [`secure`]: Kubernetes mode's gate in front of [`api`]: delegated
//!    authentication (front proxy, client certificates, TokenReview) and
//!    authorization (SubjectAccessReview), on an HTTPS-only port.

pub mod api;
pub mod cluster;
pub mod decode;
pub mod inventory;
pub mod point;
pub mod run;
pub mod secure;
pub mod store;
pub mod target;
pub mod telemetry;
pub mod view;
