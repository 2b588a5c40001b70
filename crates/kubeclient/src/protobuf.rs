//! The Kubernetes protobuf encoding of the objects `top` reads, for answers
//! to kubectl's protobuf-preferring `Accept` headers.
//!
//! An API server (and metrics-server, through the aggregator) answers
//! `application/vnd.kubernetes.protobuf` with the four magic bytes `k8s\0`
//! followed by a `runtime.Unknown` envelope whose `raw` field holds the
//! object. The messages below declare only the fields `top` needs, with the
//! field numbers of the upstream `generated.proto` files; the shared
//! envelope and metadata messages are public, for the server's watches
//! (`workingset_server::cluster::protobuf`)
//! (`k8s.io/apimachinery/pkg/apis/meta/v1`, `k8s.io/api/core/v1`,
//! `k8s.io/metrics/pkg/apis/metrics/v1beta1`); protobuf decoders skip the
//! rest.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{
    ContainerMetrics, Node, NodeMetrics, NodeStatus, ObjectMeta, Pod, PodMetrics, ResourceList,
    Time,
};
use workingset_quantity::Quantity;
use workingset_top::{Status, StatusCause, StatusDetails};

/// What starts every protobuf-encoded Kubernetes object.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf answer could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with [`MAGIC`] (apimachinery's wording).
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NoMagic,
    /// The envelope or the object is not valid protobuf.
    #[error("{0}")]
    Decode(#[from] prost::DecodeError),
    /// A quantity string that does not parse.
    #[error("{0}")]
    Quantity(String),
    /// A timestamp out of range.
    #[error("invalid timestamp: {seconds}s {nanos}ns")]
    Time {
        /// Seconds since the epoch.
        seconds: i64,
        /// Nanoseconds.
        nanos: i32,
    },
}

/// `runtime.TypeMeta`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeMetaPb {
    #[prost(string, tag = "1")]
    pub api_version: String,
    #[prost(string, tag = "2")]
    pub kind: String,
}

/// `runtime.Unknown`: the envelope after the magic bytes.
#[derive(Clone, PartialEq, Message)]
pub struct UnknownPb {
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMetaPb>,
    #[prost(bytes = "vec", tag = "2")]
    pub raw: Vec<u8>,
}

/// `resource.Quantity`: its canonical string.
#[derive(Clone, PartialEq, Message)]
pub struct QuantityPb {
    #[prost(string, tag = "1")]
    pub string: String,
}

/// `metav1.Time`.
#[derive(Clone, PartialEq, Message)]
pub struct TimePb {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `metav1.Duration`, in nanoseconds.
#[derive(Clone, PartialEq, Message)]
struct DurationPb {
    #[prost(int64, tag = "1")]
    duration: i64,
}

/// `metav1.ObjectMeta`: the fields `top` reads.
#[derive(Clone, PartialEq, Message)]
pub struct ObjectMetaPb {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(string, tag = "5")]
    pub uid: String,
    #[prost(string, tag = "6")]
    pub resource_version: String,
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<TimePb>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    pub annotations: BTreeMap<String, String>,
}

/// `v1beta1.NodeMetrics`.
#[derive(Clone, PartialEq, Message)]
struct NodeMetricsPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "2")]
    timestamp: Option<TimePb>,
    #[prost(message, optional, tag = "3")]
    window: Option<DurationPb>,
    #[prost(btree_map = "string, message", tag = "4")]
    usage: BTreeMap<String, QuantityPb>,
}

/// `v1beta1.ContainerMetrics`.
#[derive(Clone, PartialEq, Message)]
struct ContainerMetricsPb {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(btree_map = "string, message", tag = "2")]
    usage: BTreeMap<String, QuantityPb>,
}

/// `v1beta1.PodMetrics`.
#[derive(Clone, PartialEq, Message)]
struct PodMetricsPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "2")]
    timestamp: Option<TimePb>,
    #[prost(message, optional, tag = "3")]
    window: Option<DurationPb>,
    #[prost(message, repeated, tag = "4")]
    containers: Vec<ContainerMetricsPb>,
}

/// `corev1.NodeStatus`: the resource lists.
#[derive(Clone, PartialEq, Message)]
struct NodeStatusPb {
    #[prost(btree_map = "string, message", tag = "1")]
    capacity: BTreeMap<String, QuantityPb>,
    #[prost(btree_map = "string, message", tag = "2")]
    allocatable: BTreeMap<String, QuantityPb>,
}

/// `corev1.Node`.
#[derive(Clone, PartialEq, Message)]
struct NodePb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "3")]
    status: Option<NodeStatusPb>,
}

/// `corev1.Pod`: the metadata.
#[derive(Clone, PartialEq, Message)]
struct PodPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
}

/// `metav1.StatusCause`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusCausePb {
    #[prost(string, tag = "1")]
    pub reason: String,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(string, tag = "3")]
    pub field: String,
}

/// `metav1.StatusDetails`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusDetailsPb {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub group: String,
    #[prost(string, tag = "3")]
    pub kind: String,
    #[prost(message, repeated, tag = "4")]
    pub causes: Vec<StatusCausePb>,
}

/// `metav1.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct StatusPb {
    #[prost(string, tag = "2")]
    pub status: String,
    #[prost(string, tag = "3")]
    pub message: String,
    #[prost(string, tag = "4")]
    pub reason: String,
    #[prost(message, optional, tag = "5")]
    pub details: Option<StatusDetailsPb>,
    #[prost(int32, tag = "6")]
    pub code: i32,
}

/// An object unwrapped from its envelope: the kind it says it is and its
/// encoded message.
#[derive(Debug)]
pub struct Envelope {
    /// `kind` from the envelope's type meta (`NodeMetricsList`, `Status`, …).
    pub kind: String,
    raw: Vec<u8>,
}

/// Unwraps the magic bytes and the `runtime.Unknown` envelope.
pub fn open(body: &[u8]) -> Result<Envelope, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let unknown = UnknownPb::decode(rest)?;
    Ok(Envelope {
        kind: unknown.type_meta.map(|t| t.kind).unwrap_or_default(),
        raw: unknown.raw,
    })
}

impl Envelope {
    /// The object as a `Status`, with the `status` field (`Failure`, …).
    pub fn status(&self) -> Result<(String, Status), ProtobufError> {
        let status = StatusPb::decode(self.raw.as_slice())?;
        let details = status.details.map(|d| StatusDetails {
            name: d.name,
            group: d.group,
            kind: d.kind,
            causes: d
                .causes
                .into_iter()
                .map(|c| StatusCause {
                    field: c.field,
                    message: c.message,
                })
                .collect(),
        });
        Ok((
            status.status,
            Status {
                code: u16::try_from(status.code).unwrap_or(0),
                reason: status.reason,
                message: status.message,
                details: details.map(Box::new),
            },
        ))
    }

    /// One `NodeMetrics`, or the items of a `NodeMetricsList`, each handed
    /// to `each` as it is decoded.
    pub fn node_metrics(
        &self,
        list: bool,
        each: &mut dyn FnMut(NodeMetrics),
    ) -> Result<(), ProtobufError> {
        self.each_item(list, each, |m: NodeMetricsPb| {
            Ok(NodeMetrics {
                kind: None,
                api_version: None,
                metadata: meta(m.metadata)?,
                timestamp: time(m.timestamp)?,
                window: window(m.window),
                usage: resources(m.usage)?,
            })
        })
    }

    /// One `PodMetrics`, or the items of a `PodMetricsList`, each handed to
    /// `each` as it is decoded.
    pub fn pod_metrics(
        &self,
        list: bool,
        each: &mut dyn FnMut(PodMetrics),
    ) -> Result<(), ProtobufError> {
        self.each_item(list, each, |m: PodMetricsPb| {
            Ok(PodMetrics {
                kind: None,
                api_version: None,
                metadata: meta(m.metadata)?,
                timestamp: time(m.timestamp)?,
                window: window(m.window),
                containers: m
                    .containers
                    .into_iter()
                    .map(|c| {
                        Ok(ContainerMetrics {
                            name: c.name,
                            usage: resources(c.usage)?,
                        })
                    })
                    .collect::<Result<_, ProtobufError>>()?,
            })
        })
    }

    /// One `Node`, or the items of a `NodeList`, each handed to `each`.
    pub fn nodes(&self, list: bool, each: &mut dyn FnMut(Node)) -> Result<(), ProtobufError> {
        self.each_item(list, each, |n: NodePb| {
            let status = n.status.unwrap_or_default();
            Ok(Node {
                metadata: meta(n.metadata)?,
                status: NodeStatus {
                    capacity: resources(status.capacity)?,
                    allocatable: resources(status.allocatable)?,
                },
            })
        })
    }

    /// One `Pod`, or the items of a `PodList`, each handed to `each`.
    pub fn pods(&self, list: bool, each: &mut dyn FnMut(Pod)) -> Result<(), ProtobufError> {
        self.each_item(list, each, |p: PodPb| {
            Ok(Pod {
                metadata: meta(p.metadata)?,
                ..Pod::default()
            })
        })
    }

    /// The object, or each item of a `…List` message (field 2, the list
    /// metadata in field 1 skipped) decoded one at a time and made a model
    /// object by `convert`, so that a long list is never held decoded. A
    /// malformed item fails where it is, as Go's unmarshalling does.
    fn each_item<P: Message + Default, T>(
        &self,
        list: bool,
        each: &mut dyn FnMut(T),
        convert: impl Fn(P) -> Result<T, ProtobufError>,
    ) -> Result<(), ProtobufError> {
        use prost::encoding::{DecodeContext, WireType, check_wire_type, decode_key, skip_field};
        const ITEMS: u32 = 2;
        if !list {
            each(convert(P::decode(self.raw.as_slice())?)?);
            return Ok(());
        }
        let mut raw = self.raw.as_slice();
        while !raw.is_empty() {
            let (tag, wire_type) = decode_key(&mut raw)?;
            if tag == ITEMS {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                each(convert(P::decode_length_delimited(&mut raw)?)?);
            } else {
                skip_field(wire_type, tag, &mut raw, DecodeContext::default())?;
            }
        }
        Ok(())
    }
}

fn meta(meta: Option<ObjectMetaPb>) -> Result<ObjectMeta, ProtobufError> {
    let meta = meta.unwrap_or_default();
    Ok(ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        creation_timestamp: meta.creation_timestamp.map(|t| time(Some(t))).transpose()?,
        labels: meta.labels.into(),
    })
}

/// A missing time is Go's zero time, which `top` never prints; the epoch
/// stands in for it.
fn time(time: Option<TimePb>) -> Result<Time, ProtobufError> {
    let TimePb { seconds, nanos } = time.unwrap_or_default();
    jiff::Timestamp::new(seconds, nanos)
        .map(Time)
        .map_err(|_| ProtobufError::Time { seconds, nanos })
}

fn window(window: Option<DurationPb>) -> GoDuration {
    let nanos = window.map_or(0, |w| w.duration);
    GoDuration(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
}

fn resources(map: BTreeMap<String, QuantityPb>) -> Result<ResourceList, ProtobufError> {
    map.into_iter()
        .map(|(name, quantity)| {
            quantity
                .string
                .parse::<Quantity>()
                .map(|q| (name, q))
                .map_err(|e| ProtobufError::Quantity(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wraps `raw` as an API server does.
    fn envelope(kind: &str, api_version: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut body = MAGIC.to_vec();
        UnknownPb {
            type_meta: Some(TypeMetaPb {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            }),
            raw,
        }
        .encode(&mut body)
        .unwrap();
        body
    }

    #[test]
    fn rejects_bodies_without_the_magic() {
        let err = open(b"{\"kind\":\"x\"}").unwrap_err();
        assert!(matches!(err, ProtobufError::NoMagic), "{err}");
    }

    #[test]
    fn statuses_keep_reason_message_and_causes() {
        let raw = StatusPb {
            status: "Failure".into(),
            message: "nodes \"x\" not found".into(),
            reason: "NotFound".into(),
            details: Some(StatusDetailsPb {
                name: "x".into(),
                group: String::new(),
                kind: "nodes".into(),
                causes: vec![StatusCausePb {
                    reason: "FieldValueInvalid".into(),
                    message: "bad".into(),
                    field: "spec".into(),
                }],
            }),
            code: 404,
        }
        .encode_to_vec();
        let envelope = open(&envelope("Status", "v1", raw)).unwrap();
        assert_eq!(envelope.kind, "Status");
        let (state, status) = envelope.status().unwrap();
        assert_eq!(state, "Failure");
        assert_eq!(status.code, 404);
        assert_eq!(
            workingset_top::KubectlStatus(&status).to_string(),
            "Error from server (NotFound): nodes \"x\" not found"
        );
        let details = status.details.unwrap();
        assert_eq!(details.causes[0].field, "spec");
    }

    fn pod(name: &str) -> PodMetricsPb {
        PodMetricsPb {
            metadata: Some(ObjectMetaPb {
                name: name.to_owned(),
                namespace: "ns".to_owned(),
                ..ObjectMetaPb::default()
            }),
            ..PodMetricsPb::default()
        }
    }

    /// A `PodMetricsList`: list metadata (field 1), the items (field 2),
    /// and a field this reader does not know (field 9, a varint).
    fn pod_list(items: &[PodMetricsPb], after: &[u8]) -> Vec<u8> {
        let mut raw = vec![0x0a, 0x00];
        for item in items {
            raw.push(0x12);
            item.encode_length_delimited(&mut raw).unwrap();
        }
        raw.extend_from_slice(&[0x48, 0x07]);
        raw.extend_from_slice(after);
        raw
    }

    #[test]
    fn list_items_are_handed_out_in_order() {
        let raw = pod_list(&[pod("a"), pod("b")], &[]);
        let envelope = open(&envelope("PodMetricsList", "metrics.k8s.io/v1beta1", raw)).unwrap();
        let mut names = Vec::new();
        envelope
            .pod_metrics(true, &mut |pod| names.push(pod.metadata.name))
            .unwrap();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_cut_list_fails_after_the_items_before_the_cut() {
        // An item that announces 100 bytes and has 1.
        let raw = pod_list(&[pod("a")], &[0x12, 100, 0x0a]);
        let cut = open(&envelope("PodMetricsList", "metrics.k8s.io/v1beta1", raw)).unwrap();
        let mut names = Vec::new();
        let error = cut
            .pod_metrics(true, &mut |pod| names.push(pod.metadata.name))
            .unwrap_err();
        assert_eq!(names, ["a"]);
        assert!(error.to_string().contains("buffer underflow"), "{error}");
        // Items as a varint: a wire type the list cannot have there.
        let raw = pod_list(&[], &[0x10, 0x01]);
        let varint_items =
            open(&envelope("PodMetricsList", "metrics.k8s.io/v1beta1", raw)).unwrap();
        assert!(varint_items.pod_metrics(true, &mut |_| {}).is_err());
    }
}
