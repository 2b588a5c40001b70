//! The stub's protobuf answers, written field by field from the JSON
//! objects with the field numbers of upstream's `generated.proto` (an
//! encoder of its own, independent of the server's decoder, so the two
//! check each other): enveloped lists and objects (`k8s\0` +
//! `runtime.Unknown`), and watch frames (4-byte big-endian length + a
//! `WatchEvent` whose object is enveloped).

use prost::encoding::{WireType, encode_key, encode_varint};
use serde_json::Value;

const MAGIC: &[u8; 4] = b"k8s\0";

fn string(tag: u32, text: &str, out: &mut Vec<u8>) {
    if text.is_empty() {
        return;
    }
    bytes(tag, text.as_bytes(), out);
}

fn bytes(tag: u32, data: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn varint(tag: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(value, out);
}

/// `map<string, string>` (each entry a message of key 1, value 2).
fn string_map(tag: u32, map: &Value, out: &mut Vec<u8>) {
    for (key, value) in map.as_object().into_iter().flatten() {
        let mut entry = Vec::new();
        string(1, key, &mut entry);
        string(2, value.as_str().unwrap_or_default(), &mut entry);
        bytes(tag, &entry, out);
    }
}

/// `map<string, Quantity>` (a quantity is its string, field 1).
fn quantity_map(tag: u32, map: &Value, out: &mut Vec<u8>) {
    for (key, value) in map.as_object().into_iter().flatten() {
        let mut quantity = Vec::new();
        string(1, value.as_str().unwrap_or_default(), &mut quantity);
        let mut entry = Vec::new();
        string(1, key, &mut entry);
        bytes(2, &quantity, &mut entry);
        bytes(tag, &entry, out);
    }
}

fn object_meta(meta: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    string(1, meta["name"].as_str().unwrap_or_default(), &mut out);
    string(3, meta["namespace"].as_str().unwrap_or_default(), &mut out);
    string(5, meta["uid"].as_str().unwrap_or_default(), &mut out);
    string(
        6,
        meta["resourceVersion"].as_str().unwrap_or_default(),
        &mut out,
    );
    if let Some(seconds) = meta["creationTimestamp"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .and_then(|t| u64::try_from(t.as_second()).ok())
    {
        let mut time = Vec::new();
        varint(1, seconds, &mut time);
        bytes(8, &time, &mut out);
    }
    string_map(11, &meta["labels"], &mut out);
    string_map(12, &meta["annotations"], &mut out);
    out
}

fn node(node: &Value) -> Vec<u8> {
    let status = &node["status"];
    let mut encoded_status = Vec::new();
    quantity_map(1, &status["capacity"], &mut encoded_status);
    quantity_map(2, &status["allocatable"], &mut encoded_status);
    for condition in status["conditions"].as_array().into_iter().flatten() {
        let mut entry = Vec::new();
        string(
            1,
            condition["type"].as_str().unwrap_or_default(),
            &mut entry,
        );
        string(
            2,
            condition["status"].as_str().unwrap_or_default(),
            &mut entry,
        );
        bytes(4, &entry, &mut encoded_status);
    }
    for address in status["addresses"].as_array().into_iter().flatten() {
        let mut entry = Vec::new();
        string(1, address["type"].as_str().unwrap_or_default(), &mut entry);
        string(
            2,
            address["address"].as_str().unwrap_or_default(),
            &mut entry,
        );
        bytes(5, &entry, &mut encoded_status);
    }
    if let Some(port) = status["daemonEndpoints"]["kubeletEndpoint"]["Port"].as_u64() {
        let mut endpoint = Vec::new();
        varint(1, port, &mut endpoint);
        let mut endpoints = Vec::new();
        bytes(1, &endpoint, &mut endpoints);
        bytes(6, &endpoints, &mut encoded_status);
    }
    let mut out = Vec::new();
    bytes(1, &object_meta(&node["metadata"]), &mut out);
    bytes(3, &encoded_status, &mut out);
    out
}

fn partial(object: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    bytes(1, &object_meta(&object["metadata"]), &mut out);
    out
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    string(1, api_version, &mut type_meta);
    string(2, kind, &mut type_meta);
    let mut unknown = Vec::new();
    bytes(1, &type_meta, &mut unknown);
    bytes(2, raw, &mut unknown);
    let mut out = MAGIC.to_vec();
    out.extend(unknown);
    out
}

/// One object (a Node, or a pod's metadata), enveloped.
pub fn object(object: &Value, metadata_only: bool) -> Vec<u8> {
    if metadata_only {
        envelope("meta.k8s.io/v1", "PartialObjectMetadata", &partial(object))
    } else {
        envelope("v1", "Node", &node(object))
    }
}

/// A list of nodes (or of metadata), enveloped.
pub fn list(items: &[Value], resource_version: u64, metadata_only: bool) -> Vec<u8> {
    let mut list_meta = Vec::new();
    string(2, &resource_version.to_string(), &mut list_meta);
    let mut out = Vec::new();
    bytes(1, &list_meta, &mut out);
    for item in items {
        let encoded = if metadata_only {
            partial(item)
        } else {
            node(item)
        };
        bytes(2, &encoded, &mut out);
    }
    if metadata_only {
        envelope("meta.k8s.io/v1", "PartialObjectMetadataList", &out)
    } else {
        envelope("v1", "NodeList", &out)
    }
}

/// One watch frame: length and `WatchEvent`.
pub fn watch_frame(event: &str, object_envelope: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    bytes(1, object_envelope, &mut raw);
    let mut event_message = Vec::new();
    string(1, event, &mut event_message);
    bytes(2, &raw, &mut event_message);
    let mut out = u32::try_from(event_message.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend(event_message);
    out
}
