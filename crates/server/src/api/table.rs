//! Server-side printing: the `meta.k8s.io` `Table` that `kubectl get`
//! asks for, and the `Accept` negotiation that decides between it and
//! plain JSON.
//!
//! `kubectl get nodemetrics` (and `get nodes` in standalone mode) sends
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…` and prints the
//! columns the server chooses. The Metrics API tables are metrics-server's
//! (`pkg/api/table.go`): `Name`, one column per usage key in sorted order,
//! `Window`, pod cells summed over containers. As in the API server, each
//! row's `object` is a `PartialObjectMetadata` by default, the whole object
//! with `?includeObject=Object`, or `null` with `None`. The core tables are
//! deliberately small (name, roles, age): a snapshot has no node
//! conditions or pod statuses to print.

use std::collections::BTreeMap;

use axum::http::HeaderValue;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{CPU, MEMORY, Node, ObjectMeta, Pod, Time};

use crate::view::{NodeMetricsItem, PodMetricsItem};
use workingset_quantity::Quantity;

use super::encode::{Meta, ResponseTime, ServedNodeMetrics, ServedPodMetrics, Typed};
use super::status::{EmptyObject, Status};

/// `meta.k8s.io/v1`.
const META_V1: &str = "meta.k8s.io/v1";
/// `meta.k8s.io/v1beta1`, which older clients ask for; the same Table.
const META_V1BETA1: &str = "meta.k8s.io/v1beta1";

/// The media types this server writes, as named in a 406.
const ACCEPTED: &[&str] = &["application/json"];

/// What the response body is to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// The objects themselves.
    Json,
    /// A Table of this `meta.k8s.io` group/version.
    Table(&'static str),
}

/// Picks the first clause of `Accept` this server can answer, as the API
/// server's negotiation does: a Table clause (`as=Table;g=meta.k8s.io;v=v1`
/// or `v1beta1`) or plain JSON (`application/json`, `application/*`,
/// `*/*`). Protobuf and YAML clauses are passed over, so kubectl's
/// `application/vnd.kubernetes.protobuf, */*` gets JSON. No header means
/// JSON; a header with nothing usable is a 406.
pub(crate) fn negotiate(accept: Option<&HeaderValue>) -> Result<Output, Status> {
    let Some(accept) = accept.and_then(|value| value.to_str().ok()) else {
        return Ok(Output::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for clause in accept.split(',') {
        let mut parts = clause.split(';');
        let media_type = parts.next().unwrap_or_default().trim();
        let (mut as_kind, mut group, mut version, mut rejected) = (None, None, None, false);
        for parameter in parts {
            let Some((key, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "as" => as_kind = Some(value),
                "g" => group = Some(value),
                "v" => version = Some(value),
                "q" => rejected = value.parse::<f32>().is_ok_and(|q| q <= 0.0),
                _ => {}
            }
        }
        if rejected {
            continue;
        }
        let json = media_type.eq_ignore_ascii_case("application/json");
        match as_kind {
            Some("Table") if json && group == Some("meta.k8s.io") => match version {
                Some("v1") => return Ok(Output::Table(META_V1)),
                Some("v1beta1") => return Ok(Output::Table(META_V1BETA1)),
                _ => {}
            },
            Some(_) => {}
            None if json
                || media_type == "*/*"
                || media_type.eq_ignore_ascii_case("application/*") =>
            {
                return Ok(Output::Json);
            }
            None => {}
        }
    }
    Err(Status::not_acceptable(ACCEPTED))
}

/// What each row's `object` holds (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
    /// `null`.
    None,
}

impl Include {
    /// Reads the parameter as the API server validates `TableOptions`.
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, Status> {
        match value.unwrap_or_default() {
            "" | "Metadata" => Ok(Self::Metadata),
            "Object" => Ok(Self::Object),
            "None" => Ok(Self::None),
            other => Err(Status::bad_request(format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: {}: must be 'Metadata', 'Object', 'None', or empty",
                workingset_model::selector::GoQuoted(other)
            ))),
        }
    }
}

/// `metav1.Table`. `None` column definitions or rows print as `null`, as
/// Go's nil slices do (metrics-server's tables of empty lists).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase", bound = "O: Serialize + HasMeta")]
pub(crate) struct Table<O> {
    kind: &'static str,
    api_version: &'static str,
    metadata: EmptyObject,
    column_definitions: Option<Vec<Column>>,
    rows: Option<Vec<Row<O>>>,
}

impl<O> Table<O> {
    fn new(api_version: &'static str) -> Self {
        Self {
            kind: "Table",
            api_version,
            metadata: EmptyObject,
            column_definitions: None,
            rows: None,
        }
    }

    fn push(&mut self, row: Row<O>) {
        self.rows.get_or_insert_with(Vec::new).push(row);
    }
}

/// `metav1.TableColumnDefinition`.
#[derive(Debug, Serialize)]
pub(crate) struct Column {
    name: String,
    #[serde(rename = "type")]
    value_type: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    fn new(name: &str, format: &'static str, description: &'static str) -> Self {
        Self {
            name: name.to_owned(),
            value_type: "string",
            format,
            description,
            priority: 0,
        }
    }
}

/// `metav1.TableRow`.
#[derive(Debug, Serialize)]
#[serde(bound = "O: Serialize + HasMeta")]
pub(crate) struct Row<O> {
    cells: Vec<String>,
    object: RowObject<O>,
}

/// A row's `object`.
#[derive(Debug)]
pub(crate) enum RowObject<O> {
    /// `PartialObjectMetadata` of the Table's group/version.
    Partial(&'static str, O),
    /// The whole object.
    Full(O),
    /// `null`.
    Nothing,
}

/// An object whose metadata a `PartialObjectMetadata` can carry.
pub(crate) trait HasMeta {
    /// The metadata as served.
    fn served_meta(&self) -> Meta<'_>;
}

impl HasMeta for ServedNodeMetrics<'_> {
    fn served_meta(&self) -> Meta<'_> {
        Meta {
            meta: &self.object.node.metadata,
            now: Some(self.now),
        }
    }
}

impl HasMeta for ServedPodMetrics<'_> {
    fn served_meta(&self) -> Meta<'_> {
        Meta {
            meta: &self.object.pod.metadata,
            now: Some(self.now),
        }
    }
}

impl<T: HasObjectMeta> HasMeta for Typed<'_, T> {
    fn served_meta(&self) -> Meta<'_> {
        Meta {
            meta: self.object.object_meta(),
            now: None,
        }
    }
}

/// Core objects, whose own metadata is served unchanged.
pub(crate) trait HasObjectMeta {
    fn object_meta(&self) -> &ObjectMeta;
}

impl HasObjectMeta for Node {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl HasObjectMeta for Pod {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl<O: Serialize + HasMeta> Serialize for RowObject<O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Partial(api_version, object) => {
                let mut out = serializer.serialize_struct("PartialObjectMetadata", 3)?;
                out.serialize_field("kind", "PartialObjectMetadata")?;
                out.serialize_field("apiVersion", api_version)?;
                out.serialize_field("metadata", &object.served_meta())?;
                out.end()
            }
            Self::Full(object) => object.serialize(serializer),
            Self::Nothing => serializer.serialize_none(),
        }
    }
}

fn row_object<O>(table_version: &'static str, include: Include, object: O) -> RowObject<O> {
    match include {
        Include::Metadata => RowObject::Partial(table_version, object),
        Include::Object => RowObject::Full(object),
        Include::None => RowObject::Nothing,
    }
}

/// The columns of a metrics table whose usage keys are `names`.
fn metrics_columns(names: &[String]) -> Vec<Column> {
    let mut columns = Vec::with_capacity(names.len() + 2);
    columns.push(Column::new("Name", "name", "Name of the resource"));
    columns.extend(names.iter().map(|name| Column::new(name, "quantity", "")));
    columns.push(Column::new("Window", "duration", ""));
    columns
}

/// Rows of a metrics table. As metrics-server, the usage keys are taken
/// from the first object that has any, and the columns are (re)defined
/// until then.
fn metrics_rows<'a, O>(
    table: &mut Table<O>,
    objects: impl IntoIterator<Item = (&'a str, BTreeMap<&'a str, Quantity>, GoDuration, O)>,
    include: Include,
) {
    let mut names: Option<Vec<String>> = None;
    for (name, usage, window, object) in objects {
        if names.is_none() {
            let keys: Vec<String> = usage.keys().map(|key| (*key).to_owned()).collect();
            table.column_definitions = Some(metrics_columns(&keys));
            names = (!keys.is_empty()).then_some(keys);
        }
        let mut cells = Vec::with_capacity(names.as_ref().map_or(0, Vec::len) + 2);
        cells.push(name.to_owned());
        for key in names.iter().flatten() {
            let value = usage
                .get(key.as_str())
                .cloned()
                .unwrap_or_else(Quantity::zero);
            cells.push(value.to_string());
        }
        cells.push(window.to_string());
        let object = row_object(table.api_version, include, object);
        table.push(Row { cells, object });
    }
}

/// The Table of node metrics served at `now`.
pub(crate) fn node_metrics_table<'a>(
    nodes: &[&'a NodeMetricsItem],
    now: &'a ResponseTime,
    api_version: &'static str,
    include: Include,
) -> Table<ServedNodeMetrics<'a>> {
    let mut table = Table::new(api_version);
    let objects = nodes.iter().map(|node| {
        let usage = BTreeMap::from([
            (CPU, Quantity::from_nanocores(node.nanocores)),
            (MEMORY, Quantity::from_bytes(node.bytes)),
        ]);
        let served = ServedNodeMetrics {
            object: node,
            now,
            typed: true,
        };
        (
            node.node.metadata.name.as_str(),
            usage,
            GoDuration(node.window),
            served,
        )
    });
    metrics_rows(&mut table, objects, include);
    table
}

/// The Table of pod metrics served at `now`; cells sum the containers.
pub(crate) fn pod_metrics_table<'a>(
    pods: &[&'a PodMetricsItem],
    now: &'a ResponseTime,
    api_version: &'static str,
    include: Include,
) -> Table<ServedPodMetrics<'a>> {
    let mut table = Table::new(api_version);
    let objects = pods.iter().map(|pod| {
        // Summed as Quantities, as metrics-server sums its ResourceLists.
        let mut usage: BTreeMap<&str, Quantity> = BTreeMap::new();
        for container in &pod.containers {
            *usage.entry(CPU).or_insert_with(Quantity::zero) +=
                &Quantity::from_nanocores(container.nanocores);
            *usage.entry(MEMORY).or_insert_with(Quantity::zero) +=
                &Quantity::from_bytes(container.bytes);
        }
        let served = ServedPodMetrics {
            object: pod,
            now,
            typed: true,
        };
        (
            pod.pod.metadata.name.as_str(),
            usage,
            GoDuration(pod.window),
            served,
        )
    });
    metrics_rows(&mut table, objects, include);
    table
}

/// The Table of core nodes: name, roles (from the `node-role` labels) and
/// age.
pub(crate) fn nodes_table<'a>(
    nodes: &[&'a Node],
    now: Time,
    api_version: &'static str,
    include: Include,
) -> Table<Typed<'a, Node>> {
    let mut table = Table::new(api_version);
    table.column_definitions = Some(vec![
        Column::new("Name", "name", "The name of the node"),
        Column::new(
            "Roles",
            "",
            "The roles of the node, from its node-role labels",
        ),
        Column::new("Age", "", "Time since the node was created"),
    ]);
    for node in nodes {
        let cells = vec![
            node.metadata.name.clone(),
            roles(&node.metadata),
            age(&node.metadata, now),
        ];
        let typed = Typed {
            kind: "Node",
            api_version: "v1",
            object: *node,
        };
        let object = row_object(api_version, include, typed);
        table.push(Row { cells, object });
    }
    table
}

/// The Table of core pods: name and age.
pub(crate) fn pods_table<'a>(
    pods: &[&'a Pod],
    now: Time,
    api_version: &'static str,
    include: Include,
) -> Table<Typed<'a, Pod>> {
    let mut table = Table::new(api_version);
    table.column_definitions = Some(vec![
        Column::new("Name", "name", "The name of the pod"),
        Column::new("Age", "", "Time since the pod was created"),
    ]);
    for pod in pods {
        let cells = vec![pod.metadata.name.clone(), age(&pod.metadata, now)];
        let typed = Typed {
            kind: "Pod",
            api_version: "v1",
            object: *pod,
        };
        let object = row_object(api_version, include, typed);
        table.push(Row { cells, object });
    }
    table
}

/// The node's roles as the kube-apiserver's printer finds them: the suffix
/// of every `node-role.kubernetes.io/<role>` label and the value of
/// `kubernetes.io/role`, sorted, comma-separated, `<none>` when there is
/// none.
fn roles(meta: &ObjectMeta) -> String {
    let mut roles: Vec<&str> = meta
        .labels
        .iter()
        .filter_map(|(key, value)| {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then_some(role)
            } else if key == "kubernetes.io/role" {
                (!value.is_empty()).then_some(value.as_str())
            } else {
                None
            }
        })
        .collect();
    if roles.is_empty() {
        return "<none>".to_owned();
    }
    roles.sort_unstable();
    roles.dedup();
    roles.join(",")
}

/// `translateTimestampSince`: `<unknown>` without a creation time.
fn age(meta: &ObjectMeta, now: Time) -> String {
    let Some(created) = meta.creation_timestamp else {
        return "<unknown>".to_owned();
    };
    let seconds = now.0.as_second().saturating_sub(created.0.as_second());
    human_duration(seconds)
}

/// apimachinery's `duration.HumanDuration` of whole seconds: a short
/// approximate age (`45s`, `3m20s`, `5h`, `12d`, `2y30d`).
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(text: &str) -> Result<Output, Status> {
        negotiate(Some(&HeaderValue::from_str(text).unwrap()))
    }

    #[test]
    fn negotiation_takes_the_first_clause_it_can_answer() {
        assert_eq!(negotiate(None), Ok(Output::Json));
        assert_eq!(
            accept(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Ok(Output::Table(META_V1))
        );
        assert_eq!(
            accept("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json"),
            Ok(Output::Table(META_V1BETA1))
        );
        assert_eq!(
            accept("application/json; g=meta.k8s.io; v=v1; as=Table"),
            Ok(Output::Table(META_V1))
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf, */*"),
            Ok(Output::Json)
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf,application/json"),
            Ok(Output::Json)
        );
        // An unknown Table version or another transformation is passed over.
        assert_eq!(
            accept("application/json;as=Table;v=v2;g=meta.k8s.io,application/json"),
            Ok(Output::Json)
        );
        assert_eq!(
            accept("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
            Err(Status::not_acceptable(ACCEPTED))
        );
        assert_eq!(accept("text/plain"), Err(Status::not_acceptable(ACCEPTED)));
        assert_eq!(
            accept("application/json;q=0, */*;q=0"),
            Err(Status::not_acceptable(ACCEPTED))
        );
    }

    #[test]
    fn include_object_is_validated_as_the_apiserver_does() {
        assert_eq!(Include::parse(None), Ok(Include::Metadata));
        assert_eq!(Include::parse(Some("Object")), Ok(Include::Object));
        assert_eq!(Include::parse(Some("None")), Ok(Include::None));
        assert_eq!(
            Include::parse(Some("all")).unwrap_err().message,
            r#"Unable to convert to Table as requested: includeObject: Invalid value: "all": must be 'Metadata', 'Object', 'None', or empty"#
        );
    }

    #[test]
    fn human_durations_match_apimachinery() {
        for (seconds, expected) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (200, "3m20s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 5, "3h5m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 24 * 3600, "8d"),
            (729 * 24 * 3600, "729d"),
            (730 * 24 * 3600, "2y"),
            (760 * 24 * 3600, "2y30d"),
            (8 * 365 * 24 * 3600, "8y"),
        ] {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn roles_come_from_node_role_labels() {
        let meta = |labels: &[(&str, &str)]| ObjectMeta {
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ObjectMeta::default()
        };
        assert_eq!(roles(&meta(&[])), "<none>");
        assert_eq!(
            roles(&meta(&[
                ("node-role.kubernetes.io/worker", ""),
                ("node-role.kubernetes.io/control-plane", ""),
                ("kubernetes.io/role", "worker"),
                ("node-role.kubernetes.io/", "x"),
            ])),
            "control-plane,worker"
        );
    }
}
