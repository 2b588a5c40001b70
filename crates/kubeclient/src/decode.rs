//! From an HTTP answer to objects or to kubectl's error, as client-go's
//! `transformResponse`, `Result.Into` and `Result.Raw` decide.
//!
//! - A content type client-go has no decoder for is an error: on a 2xx
//!   answer `serializer for T doesn't exist`, otherwise the "unstructured"
//!   error built from the status code.
//! - A non-2xx answer becomes the server's `Status` when the body decodes
//!   as one with `status: Failure`; otherwise (and always for discovery,
//!   which reads raw bytes) the unstructured error: a fixed sentence per
//!   status code (apimachinery's `NewGenericServerResponse`), the body
//!   quoted only when it is text, and `(get RESOURCE[.GROUP] [NAME])`
//!   appended for typed requests.
//! - A 2xx answer decodes as JSON or Kubernetes protobuf; a `Status` in it
//!   that is not `Success` is an error too.

use std::fmt;

use serde::Deserialize;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use workingset_model::metrics::{Node, NodeMetrics, Pod, PodMetrics};
use workingset_top::{SourceError, Status, StatusCause, StatusDetails};

use super::gojson;
use super::protobuf::{self, Envelope};
use super::transport::Answer;

/// client-go's cap on the body text quoted in an unstructured error.
const MAX_UNSTRUCTURED_TEXT: usize = 2048;

/// The protobuf media type of Kubernetes.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
/// JSON.
pub const JSON: &str = "application/json";

/// What a typed request asked for, as client-go's request builder knows it
/// (for the `(get nodes.metrics.k8s.io NAME)` suffix of unstructured
/// errors).
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    /// API group; empty for core.
    pub group: &'a str,
    /// Resource (`nodes`, `pods`).
    pub resource: &'a str,
    /// The object's name for a GET of one object.
    pub name: Option<&'a str>,
}

/// A parsed `Content-Type`: lower-cased media type and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`.
    pub essence: String,
    /// `name=value` pairs, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl MediaType {
    /// Parses like Go's `mime.ParseMediaType` for the inputs servers send;
    /// `None` when there is no media type at all.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        if essence.is_empty() {
            return None;
        }
        let params = parts
            .filter_map(|part| {
                let (name, value) = part.split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                Some((name.trim().to_ascii_lowercase(), value.to_owned()))
            })
            .collect();
        Some(Self { essence, params })
    }

    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The wire formats client-go can decode for typed requests. (YAML too in
/// Go; no server answers a typed request with it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Json,
    Protobuf,
}

fn decoder(media: Option<&MediaType>) -> Option<Decoder> {
    match media?.essence.as_str() {
        JSON => Some(Decoder::Json),
        PROTOBUF => Some(Decoder::Protobuf),
        _ => None,
    }
}

fn is_success(status: u16) -> bool {
    (200..=206).contains(&status)
}

/// client-go's `isTextResponse`: no content type counts as text.
fn is_text(answer: &Answer) -> bool {
    match &answer.content_type {
        None => true,
        Some(text) if text.is_empty() => true,
        Some(text) => MediaType::parse(text).is_some_and(|m| m.essence.starts_with("text/")),
    }
}

/// apimachinery's `NewGenericServerResponse` for a GET.
pub fn unstructured_error(answer: &Answer, resource: Option<Resource<'_>>) -> Status {
    let server_message = if is_text(answer) {
        let body = &answer.body[..answer.body.len().min(MAX_UNSTRUCTURED_TEXT)];
        String::from_utf8_lossy(body).trim().to_owned()
    } else {
        "unknown".to_owned()
    };
    let code = answer.status;
    let (reason, mut message) = match code {
        409 => ("Conflict", "the server reported a conflict".to_owned()),
        404 => (
            "NotFound",
            "the server could not find the requested resource".to_owned(),
        ),
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason".to_owned(),
        ),
        401 => (
            "Unauthorized",
            "the server has asked for the client to provide credentials".to_owned(),
        ),
        403 => ("Forbidden", server_message.clone()),
        406 => (
            "NotAcceptable",
            if server_message.is_empty() || server_message == "unknown" {
                "the server was unable to respond with a content type that the client supports"
                    .to_owned()
            } else {
                server_message.clone()
            },
        ),
        415 => ("UnsupportedMediaType", server_message.clone()),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_owned(),
        ),
        422 => (
            "Invalid",
            "the server rejected our request due to an error in our request".to_owned(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_owned(),
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request".to_owned(),
        ),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later"
                .to_owned(),
        ),
        code if code >= 500 => (
            "InternalError",
            format!(
                "an error on the server ({}) has prevented the request from succeeding",
                workingset_model::selector::GoQuoted(&server_message)
            ),
        ),
        code => (
            "",
            format!("the server responded with the status code {code} but did not return more information"),
        ),
    };
    let (group, kind, name) = match resource {
        Some(r) => {
            let qualified = if r.group.is_empty() {
                r.resource.to_owned()
            } else {
                format!("{}.{}", r.resource, r.group)
            };
            match r.name {
                Some(name) => message = format!("{message} (get {qualified} {name})"),
                None => message = format!("{message} (get {qualified})"),
            }
            (r.group, r.resource, r.name.unwrap_or_default())
        }
        None => ("", "", ""),
    };
    Status {
        code,
        reason: reason.to_owned(),
        message,
        details: Some(Box::new(StatusDetails {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            causes: vec![StatusCause {
                field: String::new(),
                message: server_message,
            }],
        })),
    }
}

/// `Result.Raw()`: the body of a 2xx answer, else the unstructured error
/// (a `Status` body is not looked at).
pub fn raw(answer: &Answer) -> Result<&[u8], SourceError> {
    if is_success(answer.status) {
        Ok(&answer.body)
    } else {
        Err(unstructured_error(answer, None).into())
    }
}

/// Decodes a typed answer: one object (`list == false`) or a list's items.
/// `default_content_type` stands in for a missing `Content-Type`, as the
/// client's configured content type does in client-go.
#[cfg(test)]
pub fn objects<T: FromWire>(
    answer: &Answer,
    resource: Resource<'_>,
    list: bool,
    default_content_type: &str,
) -> Result<Vec<T>, SourceError> {
    let mut objects = Vec::new();
    each_object(
        answer,
        resource,
        list,
        default_content_type,
        &mut |object| objects.push(object),
    )?;
    Ok(objects)
}

/// Decodes a typed answer, handing each object to `each` as it is decoded,
/// so that the decoded list is never held whole. On an error the objects
/// handed out so far are to be dropped: kubectl reports the error and
/// nothing else.
pub fn each_object<T: FromWire>(
    answer: &Answer,
    resource: Resource<'_>,
    list: bool,
    default_content_type: &str,
    each: &mut dyn FnMut(T),
) -> Result<(), SourceError> {
    let content_type = answer
        .content_type
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| default_content_type.to_owned());
    let media = MediaType::parse(&content_type);
    let Some(decoder) = decoder(media.as_ref()) else {
        if is_success(answer.status) {
            return Err(SourceError::Other(format!(
                "serializer for {content_type} doesn't exist"
            )));
        }
        return Err(unstructured_error(answer, Some(resource)).into());
    };
    if !is_success(answer.status) {
        // Result.Error(): the server's Status when the body is one.
        let status = match decoder {
            Decoder::Json => json_status(&answer.body),
            Decoder::Protobuf => protobuf::open(&answer.body)
                .ok()
                .filter(|e| e.kind == "Status")
                .and_then(|e| e.status().ok()),
        };
        return Err(match status {
            Some((state, status)) if state == "Failure" => status.into(),
            _ => unstructured_error(answer, Some(resource)).into(),
        });
    }
    if answer.body.is_empty() {
        return Err(SourceError::Other(format!(
            "0-length response with status code: {} and content type: {content_type}",
            answer.status
        )));
    }
    match decoder {
        Decoder::Json => {
            let body = answer.body.as_slice();
            // Go checks the whole body's syntax before it decodes anything,
            // so a syntax error anywhere wins. A body serde_json decodes
            // has none, so the scan is made only when something is wrong,
            // or before looking for a Status.
            let syntax = || {
                gojson::syntax_error(body).map(|error| {
                    SourceError::Other(format!(
                        "couldn't get version/kind; json parse error: {error}"
                    ))
                })
            };
            if let Some(kind) = gojson::non_object_kind(body) {
                // The first decode, into apiVersion and kind only, refuses it.
                return Err(syntax().unwrap_or_else(|| {
                    SourceError::Other(format!(
                        r#"couldn't get version/kind; json parse error: json: cannot unmarshal {kind} into Go value of type struct {{ APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" }}"#
                    ))
                }));
            }
            if might_be_status(body) {
                if let Some(error) = syntax() {
                    return Err(error);
                }
                if let Some((state, status)) = json_status(body) {
                    if state != "Success" {
                        return Err(status.into());
                    }
                    return Ok(());
                }
            }
            from_json(body, list, each).map_err(|error| {
                syntax().unwrap_or_else(|| {
                    let text =
                        type_error::<T>(body, list).unwrap_or_else(|| go_decode_error(&error));
                    SourceError::Other(text)
                })
            })
        }
        Decoder::Protobuf => {
            let envelope =
                protobuf::open(&answer.body).map_err(|e| SourceError::Other(e.to_string()))?;
            if envelope.kind == "Status" {
                let (state, status) = envelope
                    .status()
                    .map_err(|e| SourceError::Other(e.to_string()))?;
                if state != "Success" {
                    return Err(status.into());
                }
                return Ok(());
            }
            T::from_protobuf(&envelope, list, each).map_err(|e| SourceError::Other(e.to_string()))
        }
    }
}

/// A decode error as kubectl words it: Go's decoder reports the value's
/// own error (a Quantity's regular expression, …) without a position, so
/// serde's ` at line L column C` is left off.
fn go_decode_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&position)
        .map_or_else(|| text.clone(), str::to_owned)
}

/// Go's `UnmarshalTypeError` for a body that failed to decode because a
/// value has the wrong JSON type: `json: cannot unmarshal string into Go
/// struct field PodMetrics.items.containers of type
/// []v1beta1.ContainerMetrics` (the struct holding the field, the field's
/// path from the top without indices or map keys, and its Go type).
///
/// Worked out only after a decode failed, by decoding again while tracking
/// the path; `None` when the failure is not a type error of a field the
/// object's [`FromWire::go_field`] knows, and serde's wording stands.
fn type_error<T: FromWire>(body: &[u8], list: bool) -> Option<String> {
    let mut track = serde_path_to_error::Track::new();
    let mut json = serde_json::Deserializer::from_slice(body);
    let tracked = serde_path_to_error::Deserializer::new(&mut json, &mut track);
    let error = decode_into::<T, _>(tracked, list, &mut |_| {}).err()?;
    let path = track.path();
    let found = go_json_kind(&error.to_string())?;
    // The path's keys; whether the value that failed is an array element.
    let mut keys: Vec<&str> = Vec::new();
    let mut element = false;
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Map { key } => {
                keys.push(key);
                element = false;
            }
            serde_path_to_error::Segment::Seq { .. } => element = true,
            _ => return None,
        }
    }
    if list && keys.first() != Some(&"items") {
        return None;
    }
    let skip = usize::from(list);
    let field = |keys: &[&str]| keys[skip.min(keys.len())..].join(".");
    let (holder, go_type, keys) = if keys.len() == skip {
        // The list's `items` itself, or one of its elements.
        let go_type = if element { T::GO_TYPE } else { T::GO_SLICE };
        (T::GO_LIST, go_type, &keys[..])
    } else if let Some((holder, go_type)) = T::go_field(&field(&keys), element) {
        (holder, go_type, &keys[..])
    } else {
        // A map's value is reported at the map's field, without its key.
        let parent = &keys[..keys.len() - 1];
        if element || parent.len() <= skip {
            return None;
        }
        let (holder, go_type) = T::go_field(&field(parent), true)?;
        (holder, go_type, parent)
    };
    Some(format!(
        "json: cannot unmarshal {found} into Go struct field {holder}.{} of type {go_type}",
        keys.join(".")
    ))
}

/// Go's name for the kind of JSON value serde reports as unexpected
/// (`invalid type: string "x", expected …`). Go decodes `null` into
/// anything, so it has no name here.
fn go_json_kind(serde_message: &str) -> Option<&'static str> {
    let unexpected = serde_message.strip_prefix("invalid type: ")?;
    let word = unexpected.split([' ', ',']).next()?;
    match word {
        "integer" | "floating" => Some("number"),
        "string" => Some("string"),
        "sequence" => Some("array"),
        "map" => Some("object"),
        "boolean" => Some("bool"),
        _ => None,
    }
}

/// The Go structs around an `ObjectMeta` field: `(holder, Go type)`.
fn object_meta_field(path: &str, element: bool) -> Option<(&'static str, &'static str)> {
    Some(match path {
        "metadata" => ("", "v1.ObjectMeta"),
        // A `metav1.Time` decodes its JSON as a string first; Go reports
        // the field with that type.
        "metadata.name" | "metadata.namespace" | "metadata.uid" | "metadata.creationTimestamp" => {
            ("ObjectMeta", "string")
        }
        "metadata.labels" if element => ("ObjectMeta", "string"),
        "metadata.labels" => ("ObjectMeta", "map[string]string"),
        _ => return None,
    })
}

/// A `v1.ResourceList` field held by `holder`. Its values are Quantities,
/// whose own decoder words every refusal (so an element has no entry).
fn resource_list_field(
    holder: &'static str,
    element: bool,
) -> Option<(&'static str, &'static str)> {
    (!element).then_some((holder, "v1.ResourceList"))
}

/// Whether a JSON body can be a `Status` at all: it spells `Status`, or has
/// a `\u` escape that could. Most bodies can be ruled out by one fast
/// search instead of a second decode of the whole body.
fn might_be_status(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"Status").is_some() || memchr::memmem::find(body, b"\\u").is_some()
}

/// A `Status` in JSON (its `status` field and the status), when the body
/// is one (`kind: Status`).
fn json_status(body: &[u8]) -> Option<(String, Status)> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct CauseJson {
        message: String,
        field: String,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct DetailsJson {
        name: String,
        group: String,
        kind: String,
        causes: Vec<CauseJson>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct StatusJson {
        kind: String,
        status: String,
        message: String,
        reason: String,
        details: Option<DetailsJson>,
        code: i64,
    }
    let status: StatusJson = serde_json::from_slice(body).ok()?;
    if status.kind != "Status" {
        return None;
    }
    Some((
        status.status,
        Status {
            code: u16::try_from(status.code).unwrap_or(0),
            reason: status.reason,
            message: status.message,
            details: status.details.map(|d| {
                Box::new(StatusDetails {
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
                })
            }),
        },
    ))
}

/// A list's items as Go decodes them, handed out one at a time: a missing
/// `items` is an empty list and other fields are skipped unread.
struct ListItems<'a, T> {
    each: &'a mut dyn FnMut(T),
}

/// The one field of a list that is read.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ListField {
    Items,
    #[serde(other)]
    Other,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListItems<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_items = false;
        while let Some(field) = map.next_key::<ListField>()? {
            match field {
                ListField::Items if seen_items => {
                    return Err(serde::de::Error::duplicate_field("items"));
                }
                ListField::Items => {
                    seen_items = true;
                    map.next_value_seed(Items { each: self.each })?;
                }
                ListField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `items` array: each element decoded and handed out before the next.
struct Items<'a, T> {
    each: &'a mut dyn FnMut(T),
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Items<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // `"items": null` is an empty list to Go.
        deserializer.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<T>()? {
            (self.each)(item);
        }
        Ok(())
    }
}

/// One object, or a list's items, from JSON, each handed to `each`.
fn from_json<T: DeserializeOwned>(
    body: &[u8],
    list: bool,
    each: &mut dyn FnMut(T),
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    decode_into(&mut deserializer, list, each)?;
    deserializer.end()
}

/// The one decoding rule of a typed answer, for any deserializer (the
/// plain one, or the path-tracking one of [`type_error`]).
fn decode_into<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
    list: bool,
    each: &mut dyn FnMut(T),
) -> Result<(), D::Error> {
    if list {
        deserializer.deserialize_map(ListItems { each })
    } else {
        each(T::deserialize(deserializer)?);
        Ok(())
    }
}

/// An object kubectl reads, in both wire formats (JSON through its
/// `Deserialize`).
pub trait FromWire: Sized + DeserializeOwned {
    /// Go's name of the list type (`PodMetricsList`).
    const GO_LIST: &'static str;
    /// Go's name of the type (`v1beta1.PodMetrics`).
    const GO_TYPE: &'static str;
    /// Go's name of a slice of it (`[]v1beta1.PodMetrics`).
    const GO_SLICE: &'static str;
    /// For a field path (`containers.name`, no indices): the Go struct that
    /// holds the field and the field's Go type, or with `element` the type
    /// of its elements or values. `None` for a field not decoded by kubectl
    /// in a way worth wording (see [`type_error`]).
    fn go_field(path: &str, element: bool) -> Option<(&'static str, &'static str)>;
    /// From a protobuf envelope, each object handed to `each`.
    fn from_protobuf(
        envelope: &Envelope,
        list: bool,
        each: &mut dyn FnMut(Self),
    ) -> Result<(), protobuf::ProtobufError>;
}

macro_rules! from_wire {
    ($type:ty, $method:ident, $list:literal, $go:literal, $fields:expr) => {
        impl FromWire for $type {
            const GO_LIST: &'static str = $list;
            const GO_TYPE: &'static str = $go;
            const GO_SLICE: &'static str = concat!("[]", $go);
            fn go_field(path: &str, element: bool) -> Option<(&'static str, &'static str)> {
                let holder = $go.rsplit('.').next().unwrap_or($go);
                let (within, go_type) =
                    object_meta_field(path, element).or_else(|| ($fields)(path, element))?;
                Some((if within.is_empty() { holder } else { within }, go_type))
            }
            fn from_protobuf(
                envelope: &Envelope,
                list: bool,
                each: &mut dyn FnMut(Self),
            ) -> Result<(), protobuf::ProtobufError> {
                envelope.$method(list, each)
            }
        }
    };
}

from_wire!(
    NodeMetrics,
    node_metrics,
    "NodeMetricsList",
    "v1beta1.NodeMetrics",
    |path: &str, element: bool| match path {
        "usage" => resource_list_field("", element),
        // `metav1.Time` and `metav1.Duration` decode a string first.
        "timestamp" | "window" => Some(("", "string")),
        _ => None,
    }
);
from_wire!(
    PodMetrics,
    pod_metrics,
    "PodMetricsList",
    "v1beta1.PodMetrics",
    |path: &str, element: bool| match path {
        "timestamp" | "window" => Some(("", "string")),
        "containers" if element => Some(("", "v1beta1.ContainerMetrics")),
        "containers" => Some(("", "[]v1beta1.ContainerMetrics")),
        "containers.name" => Some(("ContainerMetrics", "string")),
        "containers.usage" => resource_list_field("ContainerMetrics", element),
        _ => None,
    }
);
from_wire!(
    Node,
    nodes,
    "NodeList",
    "v1.Node",
    |path: &str, element: bool| match path {
        "status" => Some(("", "v1.NodeStatus")),
        "status.capacity" | "status.allocatable" => resource_list_field("NodeStatus", element),
        _ => None,
    }
);
from_wire!(
    Pod,
    pods,
    "PodList",
    "v1.Pod",
    |_path: &str, _element: bool| None
);

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: (!content_type.is_empty()).then(|| content_type.to_owned()),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    const NODES: Resource<'static> = Resource {
        group: "metrics.k8s.io",
        resource: "nodes",
        name: None,
    };

    fn error(answer: &Answer, resource: Resource<'_>) -> String {
        objects::<NodeMetrics>(answer, resource, false, JSON)
            .unwrap_err()
            .to_string()
    }

    // Expected texts were printed by kubectl.1.33 for the same answers.
    #[test]
    fn answers_that_are_not_objects_read_like_kubectl() {
        let n1 = Resource {
            name: Some("n1"),
            ..NODES
        };
        assert_eq!(
            error(&answer(404, "text/plain", "nope"), n1),
            "Error from server (NotFound): the server could not find the requested resource (get nodes.metrics.k8s.io n1)"
        );
        assert_eq!(
            error(&answer(200, "text/plain", "hello"), NODES),
            "error: serializer for text/plain doesn't exist"
        );
        assert_eq!(
            error(
                &answer(
                    500,
                    JSON,
                    r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"boom","reason":"InternalError","code":500}"#
                ),
                NODES
            ),
            "Error from server (InternalError): boom"
        );
        assert_eq!(
            error(&answer(422, JSON, r#"{"x":1}"#), NODES),
            "The nodes \"\" is invalid: : unknown"
        );
        assert_eq!(
            error(&answer(200, JSON, "not json"), NODES),
            "error: couldn't get version/kind; json parse error: invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            error(
                &answer(
                    200,
                    JSON,
                    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"m","reason":"Gone","code":410}"#
                ),
                NODES
            ),
            "Error from server (Gone): m"
        );
        assert_eq!(
            error(&answer(418, "text/plain; charset=utf-8", "teapot"), NODES),
            "Error from server: the server responded with the status code 418 but did not return more information (get nodes.metrics.k8s.io)"
        );
        assert_eq!(
            error(&answer(200, JSON, ""), NODES),
            "error: 0-length response with status code: 200 and content type: application/json"
        );
    }

    #[test]
    fn discovery_errors_ignore_status_bodies() {
        let forbidden = answer(
            403,
            JSON,
            r#"{"kind":"Status","status":"Failure","message":"no","reason":"Forbidden","code":403}"#,
        );
        assert_eq!(
            raw(&forbidden).unwrap_err().to_string(),
            "Error from server (Forbidden): unknown"
        );
        assert_eq!(
            raw(&answer(500, JSON, "{}")).unwrap_err().to_string(),
            "Error from server (InternalError): an error on the server (\"unknown\") has prevented the request from succeeding"
        );
        assert_eq!(
            raw(&answer(500, "text/plain", "boom\n"))
                .unwrap_err()
                .to_string(),
            "Error from server (InternalError): an error on the server (\"boom\") has prevented the request from succeeding"
        );
    }

    #[test]
    fn a_status_is_found_however_it_is_spelled() {
        // The kind spelled with an escape is still a Status to Go.
        let escaped = answer(
            200,
            JSON,
            r#"{"kind":"\u0053tatus","apiVersion":"v1","status":"Failure","message":"m","reason":"Gone","code":410}"#,
        );
        assert_eq!(error(&escaped, NODES), "Error from server (Gone): m");
        // A list that only mentions the word is a list.
        let items: Vec<NodeMetrics> = objects(
            &answer(
                200,
                JSON,
                r#"{"kind":"NodeMetricsList","items":[{"metadata":{"name":"n1","labels":{"Status":"Status"}},"timestamp":"2026-12-07T19:27:47Z","window":"10s","usage":{"cpu":"1","memory":"1Ki"}}]}"#,
            ),
            NODES,
            true,
            JSON,
        )
        .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].metadata.name, "n1");
    }

    #[test]
    fn lists_decode_leniently_like_go() {
        let items: Vec<NodeMetrics> = objects(
            &answer(
                200,
                JSON,
                r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{}}"#,
            ),
            NODES,
            true,
            JSON,
        )
        .unwrap();
        assert!(items.is_empty());
    }

    #[test]
    fn media_types_parse_with_parameters() {
        let media = MediaType::parse(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )
        .unwrap();
        assert_eq!(media.essence, "application/json");
        assert_eq!(media.param("v"), Some("v2"));
        assert_eq!(media.param("as"), Some("APIGroupDiscoveryList"));
        assert_eq!(
            MediaType::parse(" Text/Plain ").unwrap().essence,
            "text/plain"
        );
        assert_eq!(MediaType::parse(""), None);
    }
}
