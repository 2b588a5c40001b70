//! Response compression as the Kubernetes API server does it
//! (`k8s.io/apiserver` `responsewriters`, feature `APIResponseCompression`,
//! on by default since 1.16, and so in metrics-server).
//!
//! Go's HTTP client asks for gzip unless told not to, so `kubectl`, the HPA
//! controller and client-go dashboards all get a whole list compressed: a
//! 300,000-pod list is 94 MB as JSON and about a tenth of that gzipped.
//! The rules are upstream's: the first `Accept-Encoding` header, split at
//! commas, has a token that is exactly `gzip` once trimmed; the body is
//! larger than 128 KiB; compression level 1; the answer says
//! `Content-Encoding: gzip` and `Vary: Accept-Encoding`.
//!
//! Whole lists are compressed once per body by the response cache
//! (`view::ResponseCache`); every other large answer by [`compress_large`].

use std::io::Write;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// Bodies up to this size are sent as they are (upstream's
/// `defaultGzipThresholdBytes`).
pub(crate) const THRESHOLD_BYTES: usize = 128 * 1024;

/// Whether the request accepts gzip, read as the API server reads it: only
/// the first `Accept-Encoding` header, and no quality values (`gzip;q=0.5`
/// is not `gzip` there either).
pub(crate) fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|token| token.trim() == "gzip"))
}

/// `body` gzipped at level 1, the API server's level: close to the best
/// ratio for JSON at a fraction of the CPU.
pub(crate) fn compress(body: &[u8]) -> std::io::Result<bytes::Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    Ok(encoder.finish()?.into())
}

/// Marks `headers` as those of a gzipped body.
pub(crate) fn mark(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.remove(header::CONTENT_LENGTH);
}

/// Middleware: gzips an answer whose body is over [`THRESHOLD_BYTES`] when
/// the request accepts it and the handler has not encoded it already.
/// Streams (watches) have no known length and pass as they are.
pub(crate) async fn compress_large(request: Request, next: Next) -> Response {
    let gzip = accepted(request.headers());
    let response = next.run(request).await;
    let large = axum::body::HttpBody::size_hint(response.body())
        .exact()
        .is_some_and(|size| size > THRESHOLD_BYTES as u64);
    if !gzip || !large || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            tracing::error!(%error, "Reading an answer to compress it failed");
            return Response::from_parts(parts, Body::empty());
        }
    };
    match compress_off_worker(body.clone()).await {
        Some(compressed) => {
            mark(&mut parts.headers);
            Response::from_parts(parts, Body::from(compressed))
        }
        None => Response::from_parts(parts, Body::from(body)),
    }
}

/// [`compress`] on the blocking pool (a whole list is tens of MB); `None`,
/// logged, when it failed, and the body is then sent as it is.
pub(crate) async fn compress_off_worker(body: bytes::Bytes) -> Option<bytes::Bytes> {
    let error = match tokio::task::spawn_blocking(move || compress(&body)).await {
        Ok(Ok(compressed)) => return Some(compressed),
        Ok(Err(error)) => error.to_string(),
        Err(error) => error.to_string(),
    };
    tracing::warn!(%error, "Compressing an answer failed; sent uncompressed");
    None
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn gzip_is_accepted_as_the_api_server_reads_the_header() {
        for (values, want) in [
            (&["gzip"][..], true),
            (&["deflate, gzip"], true),
            (&[" gzip ,br"], true),
            (&["gzip;q=1.0"], false),
            (&["GZIP"], false),
            (&["x-gzip"], false),
            (&["br", "gzip"], false),
            (&[""], false),
            (&[], false),
        ] {
            assert_eq!(accepted(&headers(values)), want, "{values:?}");
        }
    }

    #[test]
    fn compressed_bodies_decompress_to_the_same_bytes() {
        let body: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"name\":\"pod-{i}\"}},").into_bytes())
            .collect();
        let compressed = compress(&body).unwrap();
        assert!(compressed.len() * 3 < body.len(), "{}", compressed.len());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, body);
    }
}
