//! kubectl's check that the Metrics API is served: `GET /api`, then `GET
//! /apis`, read as client-go's discovery client reads them.
//!
//! - `/api` may be missing (404); any other failure is an error. Its
//!   content is not needed, only that it decodes.
//! - `/apis` must answer. The `Content-Type` decides the format: aggregated
//!   discovery (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`,
//!   or `v2beta1`, whichever that kubectl release asks for) or a plain
//!   `APIGroupList`. A version marked `Stale` in aggregated discovery does
//!   not count.
//! - The group `metrics.k8s.io` must list version `v1beta1`.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use workingset_top::{KubectlVersion, SourceError};

use super::decode::{self, MediaType};
use super::gojson;
use super::transport::Answer;

/// The group and version `kubectl top` needs.
pub const METRICS_GROUP: &str = "metrics.k8s.io";
/// The only version kubectl accepts.
pub const METRICS_VERSION: &str = "v1beta1";

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// The `Accept` header of discovery requests in `kubectl` release `version`.
pub fn accept(version: KubectlVersion) -> String {
    if version >= KubectlVersion::V1_30 {
        format!("{AGGREGATED_V2},{AGGREGATED_V2BETA1},application/json")
    } else {
        format!("{AGGREGATED_V2BETA1},application/json")
    }
}

/// Which aggregated discovery versions this release decodes as such; any
/// other content type is read as the unaggregated format.
fn aggregated_versions(version: KubectlVersion) -> &'static [&'static str] {
    if version >= KubectlVersion::V1_30 {
        &["v2", "v2beta1"]
    } else {
        &["v2beta1"]
    }
}

fn is_aggregated(answer: &Answer, version: KubectlVersion) -> bool {
    let Some(media) = answer.content_type.as_deref().and_then(MediaType::parse) else {
        return false;
    };
    media.essence == decode::JSON
        && media.param("g") == Some("apidiscovery.k8s.io")
        && media.param("as") == Some("APIGroupDiscoveryList")
        && media
            .param("v")
            .is_some_and(|v| aggregated_versions(version).contains(&v))
}

/// One group/version as discovery lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupVersion {
    group: String,
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AggregatedList {
    items: Vec<AggregatedGroup>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AggregatedGroup {
    metadata: AggregatedMeta,
    versions: Vec<AggregatedVersion>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AggregatedMeta {
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AggregatedVersion {
    version: String,
    freshness: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GroupList {
    groups: Vec<Group>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Group {
    name: String,
    versions: Vec<GroupVersionForDiscovery>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GroupVersionForDiscovery {
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ApiVersions {
    // Decoded only so that a malformed list fails as it does in Go.
    #[serde(rename = "versions")]
    _versions: Vec<String>,
}

/// `json.Unmarshal` with Go's syntax error texts.
fn unmarshal<T: DeserializeOwned>(body: &[u8]) -> Result<T, SourceError> {
    if let Some(error) = gojson::syntax_error(body) {
        return Err(SourceError::Other(error));
    }
    serde_json::from_slice(body).map_err(|e| SourceError::Other(format!("json: {e}")))
}

fn versions(
    answer: &Answer,
    kubectl: KubectlVersion,
    legacy: bool,
) -> Result<Vec<GroupVersion>, SourceError> {
    let body = decode::raw(answer)?;
    if is_aggregated(answer, kubectl) {
        let list: AggregatedList = unmarshal(body)?;
        return Ok(list
            .items
            .into_iter()
            .flat_map(|group| {
                let name = group.metadata.name;
                group
                    .versions
                    .into_iter()
                    .filter(|v| v.freshness != "Stale")
                    .map(move |v| GroupVersion {
                        group: name.clone(),
                        version: v.version,
                    })
            })
            .collect());
    }
    if legacy {
        let _: ApiVersions = unmarshal(body)?;
        return Ok(Vec::new());
    }
    let list: GroupList = unmarshal(body)?;
    Ok(list
        .groups
        .into_iter()
        .flat_map(|group| {
            let name = group.name;
            group.versions.into_iter().map(move |v| GroupVersion {
                group: name.clone(),
                version: v.version,
            })
        })
        .collect())
}

/// Reads the answer to `GET /api`: a 404 is fine, other failures are not.
pub fn check_legacy(answer: &Answer, kubectl: KubectlVersion) -> Result<(), SourceError> {
    if answer.status == 404 {
        return Ok(());
    }
    versions(answer, kubectl, true).map(|_| ())
}

/// Reads the answer to `GET /apis`: whether `metrics.k8s.io/v1beta1` is
/// served.
pub fn metrics_served(answer: &Answer, kubectl: KubectlVersion) -> Result<bool, SourceError> {
    Ok(versions(answer, kubectl, false)?
        .iter()
        .any(|gv| gv.group == METRICS_GROUP && gv.version == METRICS_VERSION))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: Some(content_type.to_owned()),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    const AGGREGATED: &str = r#"{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[
        {"metadata":{"name":"apps"},"versions":[{"version":"v1","freshness":"Current"}]},
        {"metadata":{"name":"metrics.k8s.io"},"versions":[{"version":"v1beta1","freshness":"FRESHNESS"}]}]}"#;

    #[test]
    fn plain_group_lists() {
        let list = r#"{"kind":"APIGroupList","groups":[{"name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}]}]}"#;
        let ok = answer(200, "application/json", list);
        assert!(metrics_served(&ok, KubectlVersion::V1_27).unwrap());
        let other = answer(200, "application/json", &list.replace("v1beta1", "v1"));
        assert!(!metrics_served(&other, KubectlVersion::V1_33).unwrap());
    }

    // What kubectl.1.27 and 1.33 concluded from these answers.
    #[test]
    fn aggregated_discovery_by_release() {
        let current = answer(
            200,
            AGGREGATED_V2,
            &AGGREGATED.replace("FRESHNESS", "Current"),
        );
        assert!(metrics_served(&current, KubectlVersion::V1_33).unwrap());
        // 1.27 did not ask for v2 and reads the body as an APIGroupList.
        assert!(!metrics_served(&current, KubectlVersion::V1_27).unwrap());
        let stale = answer(
            200,
            AGGREGATED_V2,
            &AGGREGATED.replace("FRESHNESS", "Stale"),
        );
        assert!(!metrics_served(&stale, KubectlVersion::V1_33).unwrap());
        let unset = answer(
            200,
            AGGREGATED_V2,
            &AGGREGATED.replace("\"FRESHNESS\"", "\"\""),
        );
        assert!(metrics_served(&unset, KubectlVersion::V1_33).unwrap());
    }

    #[test]
    fn failures_read_like_kubectl() {
        let garbage = answer(200, "application/json", "not json");
        assert_eq!(
            metrics_served(&garbage, KubectlVersion::V1_33)
                .unwrap_err()
                .to_string(),
            "error: invalid character 'o' in literal null (expecting 'u')"
        );
        let missing = answer(404, "application/json", "{}");
        assert!(check_legacy(&missing, KubectlVersion::V1_33).is_ok());
        assert_eq!(
            metrics_served(&missing, KubectlVersion::V1_33)
                .unwrap_err()
                .to_string(),
            "Error from server (NotFound): the server could not find the requested resource"
        );
    }

    #[test]
    fn accept_headers_by_release() {
        assert_eq!(
            accept(KubectlVersion::V1_29),
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        );
        assert_eq!(
            accept(KubectlVersion::V1_30),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        );
    }
}
