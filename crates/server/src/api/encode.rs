//! The JSON bodies: objects of a snapshot as they go on the wire, without
//! copying them.
//!
//! metrics-server stamps every metrics object with the time of the response
//! as `metadata.creationTimestamp`, and only single objects carry `kind` and
//! `apiVersion`. A snapshot holds neither, and lists can hold 150,000 pods,
//! so instead of cloning objects to set those fields the wrappers here write
//! them while serialising the borrowed object. Field order and omissions are
//! Go's, the same as the `workingset_model` structs (a test holds them
//! equal).

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{CPU, MEMORY, METRICS_API_VERSION, ObjectMeta, Time};
use workingset_quantity::Quantity;

use crate::view::{ContainerUsage, NodeMetricsItem, PodMetricsItem};

use super::status::EmptyObject;

/// The time of a response, formatted once: a list stamps it on every
/// object, and formatting a time 150,000 times costs more than the rest of
/// the metadata.
#[derive(Debug, Clone)]
pub(crate) struct ResponseTime {
    text: String,
    second: i64,
}

impl ResponseTime {
    pub(crate) fn new(time: Time) -> Self {
        Self {
            text: time.to_string(),
            second: time.0.as_second(),
        }
    }

    /// The whole unix second it stands for.
    pub(crate) fn second(&self) -> i64 {
        self.second
    }

    /// The current time.
    pub(crate) fn now() -> Self {
        Self::new(Time::now())
    }

    /// As written in the objects.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

/// A sample time as `Time` prints it (RFC 3339, UTC, whole seconds),
/// written digit by digit: every object has one, and `Time`'s
/// general-purpose formatting costs about as much as the rest of the object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleTime(pub(crate) Time);

impl Serialize for SampleTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let civil = jiff::tz::Offset::UTC.to_datetime(self.0.0);
        let Ok(year) = u16::try_from(civil.year()) else {
            return self.0.serialize(serializer);
        };
        if year > 9999 {
            return self.0.serialize(serializer);
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        let two = |slot: &mut [u8], value: i8| {
            let value = value.unsigned_abs();
            slot[0] = b'0' + value / 10;
            slot[1] = b'0' + value % 10;
        };
        text[0] = b'0' + (year / 1000) as u8;
        text[1] = b'0' + (year / 100 % 10) as u8;
        text[2] = b'0' + (year / 10 % 10) as u8;
        text[3] = b'0' + (year % 10) as u8;
        two(&mut text[5..7], civil.month());
        two(&mut text[8..10], civil.day());
        two(&mut text[11..13], civil.hour());
        two(&mut text[14..16], civil.minute());
        two(&mut text[17..19], civil.second());
        // Only ASCII digits and separators were written.
        match std::str::from_utf8(&text) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => self.0.serialize(serializer),
        }
    }
}

/// `metadata` of a served object: its own fields; or, for a metrics object
/// (`now` given), the name, namespace and labels of the node or pod it
/// measures with `creationTimestamp` = `now`, as metrics-server builds it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta<'a> {
    pub(crate) meta: &'a ObjectMeta,
    pub(crate) now: Option<&'a ResponseTime>,
}

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let meta = self.meta;
        let mut out = serializer.serialize_struct("ObjectMeta", 5)?;
        for (key, value) in [
            ("name", &meta.name),
            ("namespace", &meta.namespace),
            ("uid", &meta.uid),
        ] {
            if value.is_empty() || (key == "uid" && self.now.is_some()) {
                out.skip_field(key)?;
            } else {
                out.serialize_field(key, value)?;
            }
        }
        match (self.now, &meta.creation_timestamp) {
            (Some(now), _) => out.serialize_field("creationTimestamp", now.text.as_str())?,
            (None, Some(own)) => out.serialize_field("creationTimestamp", own)?,
            (None, None) => out.skip_field("creationTimestamp")?,
        }
        if meta.labels.is_empty() {
            out.skip_field("labels")?;
        } else {
            out.serialize_field("labels", &meta.labels)?;
        }
        out.end()
    }
}

/// A `NodeMetrics` as served at `now`; `typed` adds `kind`/`apiVersion`
/// (single objects, and full objects inside a Table).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedNodeMetrics<'a> {
    pub(crate) object: &'a NodeMetricsItem,
    pub(crate) now: &'a ResponseTime,
    pub(crate) typed: bool,
}

impl Serialize for ServedNodeMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let object = self.object;
        let mut out = serializer.serialize_struct("NodeMetrics", 6)?;
        type_meta(&mut out, self.typed, "NodeMetrics")?;
        out.serialize_field(
            "metadata",
            &Meta {
                meta: &object.node.metadata,
                now: Some(self.now),
            },
        )?;
        out.serialize_field("timestamp", &SampleTime(Time(object.timestamp)))?;
        out.serialize_field("window", &GoDuration(object.window))?;
        out.serialize_field(
            "usage",
            &Usage {
                nanocores: object.nanocores,
                bytes: object.bytes,
            },
        )?;
        out.end()
    }
}

/// A `PodMetrics` as served at `now`; see [`ServedNodeMetrics`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedPodMetrics<'a> {
    pub(crate) object: &'a PodMetricsItem,
    pub(crate) now: &'a ResponseTime,
    pub(crate) typed: bool,
}

impl Serialize for ServedPodMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let object = self.object;
        let mut out = serializer.serialize_struct("PodMetrics", 6)?;
        type_meta(&mut out, self.typed, "PodMetrics")?;
        out.serialize_field(
            "metadata",
            &Meta {
                meta: &object.pod.metadata,
                now: Some(self.now),
            },
        )?;
        out.serialize_field("timestamp", &SampleTime(Time(object.timestamp)))?;
        out.serialize_field("window", &GoDuration(object.window))?;
        out.serialize_field("containers", &Containers(&object.containers))?;
        out.end()
    }
}

/// Rough bytes per served pod, so bodies are allocated once.
pub(crate) const POD_BYTES: usize = 360;

/// A `PodMetricsList` of `items` as served at `now`, written byte by byte:
/// the same bytes as [`ListBody`] of [`ServedPodMetrics`] (a test holds
/// them equal), about three times faster, because names are copied as they
/// are unless they need escaping and figures are formatted straight into
/// the body. Whole lists of 300,000 pods are written this way.
pub(crate) fn pod_metrics_list_json<'a>(
    items: impl ExactSizeIterator<Item = &'a PodMetricsItem>,
    now: &ResponseTime,
) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(96 + items.len() * POD_BYTES);
    out.extend_from_slice(
        br#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":["#,
    );
    for (index, item) in items.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let meta = &item.pod.metadata;
        out.extend_from_slice(b"{\"metadata\":{");
        let mut first = true;
        for (key, value) in [("name", &meta.name), ("namespace", &meta.namespace)] {
            if !value.is_empty() {
                if !first {
                    out.push(b',');
                }
                first = false;
                json_str(&mut out, key);
                out.push(b':');
                json_str(&mut out, value);
            }
        }
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"creationTimestamp\":");
        json_str(&mut out, now.text());
        if !meta.labels.is_empty() {
            out.extend_from_slice(b",\"labels\":{");
            for (index, (key, value)) in meta.labels.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                json_str(&mut out, key);
                out.push(b':');
                json_str(&mut out, value);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"},\"timestamp\":");
        let stamp = SampleTime(Time(item.timestamp));
        if serde_json::to_writer(&mut out, &stamp).is_err() {
            out.extend_from_slice(b"null");
        }
        // Durations and quantities are made of digits, letters, `.` and
        // `-`: nothing to escape.
        let _ = write!(
            out,
            ",\"window\":\"{}\",\"containers\":[",
            GoDuration(item.window)
        );
        for (index, container) in item.containers.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            json_str(&mut out, &container.name);
            let _ = write!(
                out,
                ",\"usage\":{{\"cpu\":\"{}\",\"memory\":\"{}\"}}}}",
                Quantity::from_nanocores(container.nanocores),
                Quantity::from_bytes(container.bytes)
            );
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// A JSON string as serde_json writes it: copied as is when nothing needs
/// escaping (names and labels almost never do), else through serde_json.
fn json_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// `usage`: the `ResourceList` metrics-server builds, keys in Go's map
/// order (`cpu` before `memory`).
#[derive(Debug, Clone, Copy)]
struct Usage {
    nanocores: u64,
    bytes: u64,
}

impl Serialize for Usage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut out = serializer.serialize_map(Some(2))?;
        out.serialize_entry(CPU, &Quantity::from_nanocores(self.nanocores))?;
        out.serialize_entry(MEMORY, &Quantity::from_bytes(self.bytes))?;
        out.end()
    }
}

/// `containers`: `[{"name": …, "usage": …}]`.
#[derive(Debug, Clone, Copy)]
struct Containers<'a>(&'a [ContainerUsage]);

impl Serialize for Containers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ServedContainer))
    }
}

#[derive(Debug, Clone, Copy)]
struct ServedContainer<'a>(&'a ContainerUsage);

impl Serialize for ServedContainer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ContainerMetrics", 2)?;
        out.serialize_field("name", &*self.0.name)?;
        out.serialize_field(
            "usage",
            &Usage {
                nanocores: self.0.nanocores,
                bytes: self.0.bytes,
            },
        )?;
        out.end()
    }
}

fn type_meta<S: SerializeStruct>(
    out: &mut S,
    typed: bool,
    kind: &'static str,
) -> Result<(), S::Error> {
    if typed {
        out.serialize_field("kind", kind)?;
        out.serialize_field("apiVersion", METRICS_API_VERSION)?;
    } else {
        out.skip_field("kind")?;
        out.skip_field("apiVersion")?;
    }
    Ok(())
}

/// A core object with its `kind` and `apiVersion` in front, as a single
/// object is served.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Typed<'a, T> {
    pub(crate) kind: &'static str,
    pub(crate) api_version: &'static str,
    #[serde(flatten)]
    pub(crate) object: &'a T,
}

/// A list: `kind`, `apiVersion`, empty `metadata`, then the items, which
/// are serialised one by one from an iterator.
#[derive(Debug)]
pub(crate) struct ListBody<I> {
    pub(crate) kind: &'static str,
    pub(crate) api_version: &'static str,
    pub(crate) items: I,
}

impl<I> Serialize for ListBody<I>
where
    I: Clone + IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("List", 4)?;
        out.serialize_field("kind", self.kind)?;
        out.serialize_field("apiVersion", self.api_version)?;
        out.serialize_field("metadata", &EmptyObject)?;
        out.serialize_field("items", &Items(self.items.clone()))?;
        out.end()
    }
}

/// Serialises an iterator as a JSON array.
#[derive(Debug)]
struct Items<I>(I);

impl<I> Serialize for Items<I>
where
    I: Clone + IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// The JSON of a value whose serialisation cannot fail (plain structs,
/// strings and maps with string keys).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, size_hint: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size_hint);
    if let Err(error) = serde_json::to_writer(&mut body, value) {
        // Not reachable with the types served here; answer something
        // well-formed rather than half a document.
        tracing::error!(%error, "Cannot serialise a response body");
        body.clear();
        body.extend_from_slice(b"{}");
    }
    body
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;
    use workingset_model::metrics::{List, Node, Pod};

    use super::*;

    fn at(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    /// A node object with what a real one has beyond what metrics copy (a
    /// uid and its own creation time), which must not be served.
    fn node(labels: &[(&str, &str)], nanocores: u64, bytes: u64) -> NodeMetricsItem {
        NodeMetricsItem {
            node: Arc::new(Node {
                metadata: ObjectMeta {
                    name: "n1".into(),
                    uid: "0b5c-uid".into(),
                    creation_timestamp: Some(at("2020-01-01T00:00:00Z")),
                    labels: labels
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    ..ObjectMeta::default()
                },
                ..Node::default()
            }),
            timestamp: at("2025-01-02T03:04:05Z").0,
            window: Duration::from_millis(17_913),
            nanocores,
            bytes,
        }
    }

    fn pod(containers: &[(&str, u64, u64)]) -> PodMetricsItem {
        PodMetricsItem {
            pod: Arc::new(Pod {
                metadata: ObjectMeta {
                    name: "web".into(),
                    namespace: "default".into(),
                    uid: "7f3e-uid".into(),
                    creation_timestamp: Some(at("2020-01-01T00:00:00Z")),
                    ..ObjectMeta::default()
                },
                ..Pod::default()
            }),
            timestamp: at("2025-01-02T03:04:05Z").0,
            window: Duration::from_secs(15),
            containers: containers
                .iter()
                .map(|(name, nanocores, bytes)| ContainerUsage {
                    name: Arc::from(*name),
                    nanocores: *nanocores,
                    bytes: *bytes,
                })
                .collect(),
        }
    }

    /// The wrappers write what the model structs write once the two fields
    /// are set on the model copy.
    fn check_against_model(node_item: &NodeMetricsItem, pod_item: &PodMetricsItem) {
        let now = at("2025-01-02T03:05:00Z");
        let response_time = ResponseTime::new(now);
        for typed in [false, true] {
            let mut expected = node_item.to_model();
            expected.metadata.creation_timestamp = Some(now);
            if typed {
                expected.kind = Some("NodeMetrics".into());
                expected.api_version = Some(METRICS_API_VERSION.into());
            }
            let served = ServedNodeMetrics {
                object: node_item,
                now: &response_time,
                typed,
            };
            assert_eq!(
                serde_json::to_string(&served).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );

            let mut expected = pod_item.to_model();
            expected.metadata.creation_timestamp = Some(now);
            if typed {
                expected.kind = Some("PodMetrics".into());
                expected.api_version = Some(METRICS_API_VERSION.into());
            }
            let served = ServedPodMetrics {
                object: pod_item,
                now: &response_time,
                typed,
            };
            assert_eq!(
                serde_json::to_string(&served).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }

    #[test]
    fn wrappers_match_the_model_structs() {
        check_against_model(
            &node(&[("a", "b")], 487_558_164, 732_212 * 1024),
            &pod(&[("app", 1_000_000, 5 << 20)]),
        );
        let served = serde_json::to_string(&ServedPodMetrics {
            object: &pod(&[("app", 1_000_000, 5 << 20), ("log", 0, 0)]),
            now: &ResponseTime::new(at("2025-01-02T03:05:00Z")),
            typed: false,
        })
        .unwrap();
        assert_eq!(
            served,
            r#"{"metadata":{"name":"web","namespace":"default","creationTimestamp":"2025-01-02T03:05:00Z"},"timestamp":"2025-01-02T03:04:05Z","window":"15s","containers":[{"name":"app","usage":{"cpu":"1m","memory":"5Mi"}},{"name":"log","usage":{"cpu":"0","memory":"0"}}]}"#
        );
    }

    proptest! {
        #[test]
        fn wrappers_match_the_model_for_any_figures(
            nanocores in any::<u64>(),
            bytes in any::<u64>(),
            containers in proptest::collection::vec(("[a-z\\-\"\\\\é]{1,8}", any::<u64>(), any::<u64>()), 0..4),
            label in "[a-z./]{1,10}",
            value in "[ -~é]{0,10}",
        ) {
            let containers: Vec<(&str, u64, u64)> =
                containers.iter().map(|(n, c, m)| (n.as_str(), *c, *m)).collect();
            check_against_model(
                &node(&[(label.as_str(), value.as_str())], nanocores, bytes),
                &pod(&containers),
            );
        }
    }

    proptest! {
        /// The direct writer says byte for byte what the serde path says.
        #[test]
        fn the_direct_list_writer_matches_serde(
            pods in proptest::collection::vec(
                (
                    "[a-z0-9\\-\"\\\\é\u{1}]{0,6}",
                    "[a-z\"]{0,4}",
                    proptest::collection::vec(("[a-z\\\\\n]{1,4}", any::<u64>(), any::<u64>()), 0..3),
                    proptest::collection::vec(("[a-z./\"]{1,5}", "[a-z0-9\\-\"\\\\]{0,4}"), 0..3),
                    0i64..4_000_000_000_000,
                    0u64..100_000_000_000,
                ),
                0..4,
            ),
        ) {
            let items: Vec<PodMetricsItem> = pods
                .iter()
                .map(|(name, namespace, containers, labels, at_ms, window_ns)| {
                    let mut item = pod(&[]);
                    let pod = Arc::make_mut(&mut item.pod);
                    pod.metadata.name = name.clone();
                    pod.metadata.namespace = namespace.clone();
                    pod.metadata.labels = labels.iter().cloned().collect();
                    item.timestamp = jiff::Timestamp::from_millisecond(*at_ms).unwrap();
                    item.window = Duration::from_nanos(*window_ns);
                    item.containers = containers
                        .iter()
                        .map(|(name, nanocores, bytes)| ContainerUsage {
                            name: Arc::from(name.as_str()),
                            nanocores: *nanocores,
                            bytes: *bytes,
                        })
                        .collect();
                    item
                })
                .collect();
            let now = ResponseTime::new(at("2025-01-02T03:05:00Z"));
            let serde = to_json(
                &ListBody {
                    kind: "PodMetricsList",
                    api_version: METRICS_API_VERSION,
                    items: items.iter().map(|object| ServedPodMetrics {
                        object,
                        now: &now,
                        typed: false,
                    }),
                },
                0,
            );
            let direct = pod_metrics_list_json(items.iter(), &now);
            prop_assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(serde).unwrap());
        }
    }

    #[test]
    fn lists_match_the_model_list() {
        let now = at("2025-01-02T03:05:00Z");
        let response_time = ResponseTime::new(now);
        let pods = [pod(&[("app", 1, 2)]), pod(&[("app", 3, 4)])];
        let body = ListBody {
            kind: "PodMetricsList",
            api_version: METRICS_API_VERSION,
            items: pods.iter().map(|object| ServedPodMetrics {
                object,
                now: &response_time,
                typed: false,
            }),
        };
        let stamped = |item: &PodMetricsItem| {
            let mut model = item.to_model();
            model.metadata.creation_timestamp = Some(now);
            model
        };
        let expected = List::new(
            "PodMetricsList",
            METRICS_API_VERSION,
            pods.iter().map(stamped).collect(),
        );
        assert_eq!(to_json(&body, 0), serde_json::to_vec(&expected).unwrap());
        let empty = ListBody {
            kind: "NodeMetricsList",
            api_version: METRICS_API_VERSION,
            items: std::iter::empty::<ServedNodeMetrics<'_>>(),
        };
        assert_eq!(
            String::from_utf8(to_json(&empty, 0)).unwrap(),
            r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]}"#
        );
    }

    #[test]
    fn sample_times_print_as_time_does() {
        for text in [
            "2025-01-02T03:04:05Z",
            "2025-01-02T03:04:05.999999999Z",
            "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-30T12:34:56Z",
            "2024-02-29T12:34:56.5Z",
        ] {
            let time = at(text);
            assert_eq!(
                serde_json::to_string(&SampleTime(time)).unwrap(),
                serde_json::to_string(&time).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn metadata_keeps_its_own_time_unless_told_otherwise() {
        let meta = ObjectMeta {
            name: "p".into(),
            namespace: "ns".into(),
            uid: "u-1".into(),
            creation_timestamp: Some(at("2024-01-01T00:00:00Z")),
            labels: Default::default(),
        };
        assert_eq!(
            serde_json::to_string(&Meta {
                meta: &meta,
                now: None
            })
            .unwrap(),
            serde_json::to_string(&meta).unwrap()
        );
        assert_eq!(
            serde_json::to_string(&Meta {
                meta: &meta,
                now: Some(&ResponseTime::new(at("2025-01-01T00:00:00Z")))
            })
            .unwrap(),
            r#"{"name":"p","namespace":"ns","creationTimestamp":"2025-01-01T00:00:00Z"}"#,
            "a metrics object carries its object's name, namespace and labels, not its uid"
        );
    }
}
