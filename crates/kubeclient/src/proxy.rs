//! Raw GETs through the API server for `workingset explain`: a node's
//! `/metrics/cadvisor` and `/stats/summary` through the node proxy
//! (`/api/v1/nodes/{node}/proxy/…`), and the pod and node objects that say
//! which node to ask. Same kubeconfig rules, client and error texts as
//! `top`'s requests.

use workingset_top::SourceError;

use super::{RemoteSource, decode};

impl RemoteSource {
    /// `GET path?params` (the path already escaped, the parameters escaped
    /// here, client-go's `timeout` added as for any raw request) with
    /// `Accept: accept`; the body of a 2xx answer, else client-go's error for
    /// the status.
    pub fn get_raw(
        &mut self,
        path: &str,
        params: &[(&str, &str)],
        accept: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let answer = self.get(path, params, accept, false)?;
        decode::raw(&answer).map(<[u8]>::to_vec)
    }
}

/// `text` escaped as one path segment, as client-go escapes names.
pub fn path_segment(text: &str) -> String {
    super::path_escape(text)
}
