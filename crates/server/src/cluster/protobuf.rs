//! Protobuf for the fleet's watches, where the API server offers it, under
//! kube's runtime (which speaks JSON only).
//!
//! [`ProtobufLayer`] sits in the fleet client's service stack. For the two
//! collections the fleet watches it asks for
//! `application/vnd.kubernetes.protobuf` first (JSON still accepted, so an
//! API server without protobuf answers as before), and when the answer is
//! protobuf it hands kube the same objects as JSON:
//!
//! - a list is `k8s\0` + a `runtime.Unknown` envelope around a `NodeList` or
//!   `PartialObjectMetadataList` (or a `Status`);
//! - a watch is a stream of frames, each a 4-byte big-endian length and a
//!   `metav1.WatchEvent` whose object is an enveloped object, as
//!   apimachinery's protobuf stream serializer writes them.
//!
//! Only the fields the fleet reads are carried over (names, uid, resource
//! version, creation time, labels, annotations; a node's capacity,
//! allocatable, conditions, addresses and kubelet port), with the field
//! numbers of upstream's `generated.proto`; the envelope and metadata
//! messages are `workingset_kubeclient::protobuf`'s, shared with `top`. This is what metrics-server's
//! informers ask for: the objects' bytes on the wire are a fraction of
//! their JSON.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use hyper::body::{Body, Frame};
use prost::Message;
use serde_json::{Map, Value, json};
use tower::{Layer, Service};
use workingset_kubeclient::protobuf::{
    MAGIC, ObjectMetaPb, QuantityPb, StatusPb, TimePb, UnknownPb,
};

/// Errors of the transcoding body or the inner service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// The largest watch frame accepted (the API server's objects are far
/// smaller; this bounds what a broken peer can make us buffer).
const MAX_FRAME: usize = 64 << 20;

#[derive(Clone, PartialEq, Message)]
struct ListMetaPb {
    #[prost(string, tag = "2")]
    resource_version: String,
    #[prost(string, tag = "3")]
    continue_token: String,
}

#[derive(Clone, PartialEq, Message)]
struct NodeConditionPb {
    #[prost(string, tag = "1")]
    type_: String,
    #[prost(string, tag = "2")]
    status: String,
    #[prost(string, tag = "5")]
    reason: String,
    #[prost(string, tag = "6")]
    message: String,
}

#[derive(Clone, PartialEq, Message)]
struct NodeAddressPb {
    #[prost(string, tag = "1")]
    type_: String,
    #[prost(string, tag = "2")]
    address: String,
}

#[derive(Clone, PartialEq, Message)]
struct DaemonEndpointPb {
    #[prost(int32, tag = "1")]
    port: i32,
}

#[derive(Clone, PartialEq, Message)]
struct NodeDaemonEndpointsPb {
    #[prost(message, optional, tag = "1")]
    kubelet_endpoint: Option<DaemonEndpointPb>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeStatusPb {
    #[prost(btree_map = "string, message", tag = "1")]
    capacity: BTreeMap<String, QuantityPb>,
    #[prost(btree_map = "string, message", tag = "2")]
    allocatable: BTreeMap<String, QuantityPb>,
    #[prost(message, repeated, tag = "4")]
    conditions: Vec<NodeConditionPb>,
    #[prost(message, repeated, tag = "5")]
    addresses: Vec<NodeAddressPb>,
    #[prost(message, optional, tag = "6")]
    daemon_endpoints: Option<NodeDaemonEndpointsPb>,
}

#[derive(Clone, PartialEq, Message)]
struct NodePb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
    #[prost(message, optional, tag = "3")]
    status: Option<NodeStatusPb>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeListPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ListMetaPb>,
    #[prost(message, repeated, tag = "2")]
    items: Vec<NodePb>,
}

#[derive(Clone, PartialEq, Message)]
struct PartialObjectMetadataPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMetaPb>,
}

#[derive(Clone, PartialEq, Message)]
struct PartialObjectMetadataListPb {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ListMetaPb>,
    #[prost(message, repeated, tag = "2")]
    items: Vec<PartialObjectMetadataPb>,
}

#[derive(Clone, PartialEq, Message)]
struct RawExtensionPb {
    #[prost(bytes = "vec", tag = "1")]
    raw: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct WatchEventPb {
    #[prost(string, tag = "1")]
    type_: String,
    #[prost(message, optional, tag = "2")]
    object: Option<RawExtensionPb>,
}

/// Why a protobuf answer could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// Not an enveloped object.
    #[error("the answer is not an enveloped protobuf object (no k8s\\0 prefix)")]
    NoMagic,
    /// Invalid protobuf.
    #[error("invalid protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A kind the fleet does not watch.
    #[error("unexpected kind {0:?} in a protobuf answer")]
    Kind(String),
    /// A watch frame larger than [`MAX_FRAME`].
    #[error("a watch frame of {0} bytes is larger than allowed")]
    Frame(usize),
}

fn time(time: Option<&TimePb>) -> Value {
    time.and_then(|t| jiff::Timestamp::new(t.seconds, 0).ok())
        .map_or(Value::Null, |t| {
            Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        })
}

fn object_meta(meta: Option<&ObjectMetaPb>) -> Value {
    let Some(meta) = meta else {
        return json!({});
    };
    let mut out = Map::new();
    for (key, value) in [
        ("name", &meta.name),
        ("namespace", &meta.namespace),
        ("uid", &meta.uid),
        ("resourceVersion", &meta.resource_version),
    ] {
        if !value.is_empty() {
            out.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    let created = time(meta.creation_timestamp.as_ref());
    if !created.is_null() {
        out.insert("creationTimestamp".to_owned(), created);
    }
    if !meta.labels.is_empty() {
        out.insert("labels".to_owned(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        out.insert("annotations".to_owned(), json!(meta.annotations));
    }
    Value::Object(out)
}

fn list_meta(meta: Option<&ListMetaPb>) -> Value {
    let mut out = Map::new();
    if let Some(meta) = meta {
        if !meta.resource_version.is_empty() {
            out.insert("resourceVersion".to_owned(), json!(meta.resource_version));
        }
        if !meta.continue_token.is_empty() {
            out.insert("continue".to_owned(), json!(meta.continue_token));
        }
    }
    Value::Object(out)
}

fn quantities(map: &BTreeMap<String, QuantityPb>) -> Value {
    Value::Object(
        map.iter()
            .map(|(name, quantity)| (name.clone(), Value::String(quantity.string.clone())))
            .collect(),
    )
}

fn node(node: &NodePb) -> Value {
    let mut out = json!({"apiVersion": "v1", "kind": "Node", "metadata": object_meta(node.metadata.as_ref())});
    if let Some(status) = &node.status {
        let conditions: Vec<Value> = status
            .conditions
            .iter()
            .map(|c| json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": c.message}))
            .collect();
        let addresses: Vec<Value> = status
            .addresses
            .iter()
            .map(|a| json!({"type": a.type_, "address": a.address}))
            .collect();
        let port = status
            .daemon_endpoints
            .as_ref()
            .and_then(|d| d.kubelet_endpoint.as_ref())
            .map_or(0, |e| e.port);
        out["status"] = json!({
            "capacity": quantities(&status.capacity),
            "allocatable": quantities(&status.allocatable),
            "conditions": conditions,
            "addresses": addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        });
    }
    out
}

fn partial(meta: &PartialObjectMetadataPb) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": object_meta(meta.metadata.as_ref()),
    })
}

fn status(status: &StatusPb) -> Value {
    let details = status.details.as_ref().map_or(
        Value::Null,
        |d| json!({"name": d.name, "group": d.group, "kind": d.kind}),
    );
    json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": status.status, "message": status.message, "reason": status.reason,
        "details": details, "code": status.code,
    })
}

/// An enveloped object (list, object or status) as JSON.
fn envelope_to_json(bytes: &[u8]) -> Result<Value, TranscodeError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(TranscodeError::NoMagic)?;
    let unknown = UnknownPb::decode(rest)?;
    let kind = unknown.type_meta.map(|t| t.kind).unwrap_or_default();
    let raw = unknown.raw.as_slice();
    Ok(match kind.as_str() {
        "NodeList" => {
            let list = NodeListPb::decode(raw)?;
            json!({"apiVersion": "v1", "kind": "NodeList", "metadata": list_meta(list.metadata.as_ref()),
                   "items": list.items.iter().map(node).collect::<Vec<_>>()})
        }
        "Node" => node(&NodePb::decode(raw)?),
        "PartialObjectMetadataList" => {
            let list = PartialObjectMetadataListPb::decode(raw)?;
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                   "metadata": list_meta(list.metadata.as_ref()),
                   "items": list.items.iter().map(partial).collect::<Vec<_>>()})
        }
        "PartialObjectMetadata" => partial(&PartialObjectMetadataPb::decode(raw)?),
        "Status" => status(&StatusPb::decode(raw)?),
        other => return Err(TranscodeError::Kind(other.to_owned())),
    })
}

/// One watch frame (a `WatchEvent`) as a JSON line.
fn watch_event_to_json(frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let event = WatchEventPb::decode(frame)?;
    let object = event.object.map(|o| o.raw).unwrap_or_default();
    let object = envelope_to_json(&object)?;
    let mut line = serde_json::to_vec(&json!({"type": event.type_, "object": object}))
        .map_err(|e| TranscodeError::Kind(e.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

/// Which answers are transcoded: the two collections the fleet watches.
fn protobuf_accept(request: &Request<kube::client::Body>) -> Option<HeaderValue> {
    if request.method() != http::Method::GET {
        return None;
    }
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = request.uri().path();
    let wanted = match path {
        "/api/v1/nodes" if !accept.contains("as=") => format!("{PROTOBUF}, application/json"),
        "/api/v1/pods" if accept.contains("as=PartialObjectMetadata") => {
            // The same transformation, protobuf first: `application/json;as=…`
            // becomes `application/vnd.kubernetes.protobuf;as=…, application/json;as=…`.
            let params = accept.split_once(';').map(|(_, p)| p).unwrap_or_default();
            format!("{PROTOBUF};{params}, {accept}")
        }
        _ => return None,
    };
    HeaderValue::from_str(&wanted).ok()
}

/// The layer of the fleet's client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProtobufLayer;

impl<S> Layer<S> for ProtobufLayer {
    type Service = ProtobufService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProtobufService { inner }
    }
}

/// See [`ProtobufLayer`].
#[derive(Debug, Clone)]
pub struct ProtobufService<S> {
    inner: S,
}

impl<S, B> Service<Request<kube::client::Body>> for ProtobufService<S>
where
    S: Service<Request<kube::client::Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Transcoded<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<kube::client::Body>) -> Self::Future {
        let asked = protobuf_accept(&request);
        if let Some(accept) = &asked {
            request.headers_mut().insert(ACCEPT, accept.clone());
        }
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await.map_err(Into::into)?;
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let (mut parts, body) = response.into_parts();
            if asked.is_none() || !content_type.starts_with(PROTOBUF) {
                return Ok(Response::from_parts(parts, Transcoded::passthrough(body)));
            }
            let stream = content_type.contains("stream=watch");
            let json = if stream {
                "application/json;stream=watch"
            } else {
                "application/json"
            };
            parts
                .headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(json));
            parts.headers.remove(CONTENT_LENGTH);
            Ok(Response::from_parts(
                parts,
                Transcoded::protobuf(body, stream),
            ))
        })
    }
}

/// A body passed through, or turned from protobuf into JSON.
#[derive(Debug)]
pub struct Transcoded<B> {
    inner: B,
    mode: Mode,
    buffer: BytesMut,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Passthrough,
    List,
    Watch,
}

impl<B> Transcoded<B> {
    fn passthrough(inner: B) -> Self {
        Self {
            inner,
            mode: Mode::Passthrough,
            buffer: BytesMut::new(),
            done: false,
        }
    }

    fn protobuf(inner: B, stream: bool) -> Self {
        Self {
            inner,
            mode: if stream { Mode::Watch } else { Mode::List },
            buffer: BytesMut::new(),
            done: false,
        }
    }

    /// The JSON lines of every whole frame buffered so far.
    fn drain_frames(&mut self) -> Result<Option<Bytes>, BoxError> {
        let mut out = Vec::new();
        while self.buffer.len() >= 4 {
            let length = u32::from_be_bytes([
                self.buffer[0],
                self.buffer[1],
                self.buffer[2],
                self.buffer[3],
            ]);
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            if length > MAX_FRAME {
                return Err(Box::new(TranscodeError::Frame(length)));
            }
            if self.buffer.len() < 4 + length {
                break;
            }
            self.buffer.advance(4);
            let frame = self.buffer.split_to(length);
            out.extend(watch_event_to_json(&frame)?);
        }
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }
}

impl<B> Body for Transcoded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            match (this.mode, polled) {
                (Mode::Passthrough, polled) => {
                    return polled.map(|frame| frame.map(|f| f.map_err(Into::into)));
                }
                (_, Poll::Pending) => return Poll::Pending,
                (_, Poll::Ready(Some(Err(error)))) => return Poll::Ready(Some(Err(error.into()))),
                (_, Poll::Ready(Some(Ok(frame)))) => {
                    if let Ok(data) = frame.into_data() {
                        this.buffer.extend_from_slice(&data);
                    }
                    if this.mode == Mode::Watch {
                        match this.drain_frames() {
                            Ok(Some(json)) => return Poll::Ready(Some(Ok(Frame::data(json)))),
                            Ok(None) => {}
                            Err(error) => return Poll::Ready(Some(Err(error))),
                        }
                    }
                }
                (Mode::List, Poll::Ready(None)) => {
                    this.done = true;
                    let body = std::mem::take(&mut this.buffer);
                    return Poll::Ready(Some(
                        envelope_to_json(&body)
                            .and_then(|json| {
                                serde_json::to_vec(&json)
                                    .map_err(|e| TranscodeError::Kind(e.to_string()))
                            })
                            .map(|json| Frame::data(Bytes::from(json)))
                            .map_err(|error| Box::new(error) as BoxError),
                    ));
                }
                (_, Poll::Ready(None)) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use workingset_kubeclient::protobuf::TypeMetaPb;

    fn envelope(kind: &str, api_version: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        UnknownPb {
            type_meta: Some(TypeMetaPb {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            }),
            raw,
        }
        .encode(&mut out)
        .unwrap();
        out
    }

    fn a_node() -> NodePb {
        NodePb {
            metadata: Some(ObjectMetaPb {
                name: "node-1".to_owned(),
                resource_version: "7".to_owned(),
                creation_timestamp: Some(TimePb {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                labels: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
                annotations: BTreeMap::from([(
                    "metrics.k8s.io/resource-metrics-path".to_owned(),
                    "/x".to_owned(),
                )]),
                ..ObjectMetaPb::default()
            }),
            status: Some(NodeStatusPb {
                capacity: BTreeMap::from([(
                    "cpu".to_owned(),
                    QuantityPb {
                        string: "4".to_owned(),
                    },
                )]),
                addresses: vec![NodeAddressPb {
                    type_: "InternalIP".to_owned(),
                    address: "10.0.0.1".to_owned(),
                }],
                daemon_endpoints: Some(NodeDaemonEndpointsPb {
                    kubelet_endpoint: Some(DaemonEndpointPb { port: 10250 }),
                }),
                ..NodeStatusPb::default()
            }),
        }
    }

    #[test]
    fn a_node_list_reads_as_kube_expects_it() {
        let list = NodeListPb {
            metadata: Some(ListMetaPb {
                resource_version: "9".to_owned(),
                continue_token: String::new(),
            }),
            items: vec![a_node()],
        };
        let json = envelope_to_json(&envelope("NodeList", "v1", list.encode_to_vec())).unwrap();
        let parsed: k8s_openapi::List<k8s_openapi::api::core::v1::Node> =
            serde_json::from_value(json).unwrap();
        assert_eq!(parsed.metadata.resource_version.as_deref(), Some("9"));
        let node = &parsed.items[0];
        assert_eq!(node.metadata.name.as_deref(), Some("node-1"));
        let status = node.status.as_ref().unwrap();
        assert_eq!(status.addresses.as_ref().unwrap()[0].address, "10.0.0.1");
        assert_eq!(
            status
                .daemon_endpoints
                .as_ref()
                .unwrap()
                .kubelet_endpoint
                .as_ref()
                .unwrap()
                .port,
            10250
        );
        assert_eq!(
            node.metadata.annotations.as_ref().unwrap()["metrics.k8s.io/resource-metrics-path"],
            "/x"
        );
    }

    #[test]
    fn watch_frames_become_json_lines_whatever_the_chunking() {
        let event = WatchEventPb {
            type_: "ADDED".to_owned(),
            object: Some(RawExtensionPb {
                raw: envelope("Node", "v1", a_node().encode_to_vec()),
            }),
        };
        let frame = event.encode_to_vec();
        let mut stream = Vec::new();
        for _ in 0..2 {
            stream.extend(u32::try_from(frame.len()).unwrap().to_be_bytes());
            stream.extend(&frame);
        }
        let mut body = Transcoded::protobuf((), true);
        let mut lines = Vec::new();
        // Byte by byte: frames split anywhere still come out whole.
        for byte in stream {
            body.buffer.extend_from_slice(&[byte]);
            if let Some(json) = body.drain_frames().unwrap() {
                lines.extend(json);
            }
        }
        let text = String::from_utf8(lines).unwrap();
        assert_eq!(text.lines().count(), 2);
        let event: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(event["type"], "ADDED");
        assert_eq!(event["object"]["metadata"]["name"], "node-1");
        assert_eq!(
            event["object"]["metadata"]["creationTimestamp"],
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn broken_answers_are_errors_not_panics() {
        assert!(matches!(
            envelope_to_json(b"{}"),
            Err(TranscodeError::NoMagic)
        ));
        assert!(envelope_to_json(&envelope("Secret", "v1", Vec::new())).is_err());
        let mut body = Transcoded::protobuf((), true);
        body.buffer.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(body.drain_frames().is_err());
    }
}
