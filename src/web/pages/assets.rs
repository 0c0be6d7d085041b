//! The pages' stylesheet, script and icon, embedded in the binary (no CDN,
//! nothing to install beside it) and served with an ETag and a long cache
//! lifetime; pages link them with `?v=<etag>`, so a new build is fetched
//! at once.

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use sha2::{Digest, Sha256};

use crate::web::response::{respond, HttpResponse};

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

pub const CSS: Asset = Asset {
    path: "/static/deadman.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("assets/deadman.css"),
};

pub const JS: Asset = Asset {
    path: "/static/deadman.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("assets/deadman.js"),
};

pub const FAVICON: Asset = Asset {
    path: "/static/favicon.svg",
    content_type: "image/svg+xml",
    body: include_str!("assets/favicon.svg"),
};

const ALL: [Asset; 3] = [CSS, JS, FAVICON];

impl Asset {
    /// A digest of the content: the ETag, and the `?v=` of links to it.
    pub fn version(&self) -> String {
        let digest = Sha256::digest(self.body.as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The link to this asset, versioned.
    pub fn href(&self, base: &str) -> String {
        format!("{base}{}?v={}", self.path, self.version())
    }
}

/// Serves `path` if it is an asset: 304 when the client has this version.
pub fn serve(path: &str, headers: &HeaderMap) -> Option<HttpResponse> {
    let asset = ALL.iter().find(|asset| asset.path == path)?;
    let etag = format!("\"{}\"", asset.version());
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = match fresh {
        true => respond(StatusCode::NOT_MODIFIED, asset.content_type, Bytes::new()),
        false => respond(
            StatusCode::OK,
            asset.content_type,
            Bytes::from_static(asset.body.as_bytes()),
        ),
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_with_an_etag_and_revalidated() {
        let response = serve("/static/deadman.css", &HeaderMap::new()).expect("asset");
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        let again = serve("/static/deadman.css", &headers).expect("asset");
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(serve("/static/nope.css", &HeaderMap::new()).is_none());
        assert!(CSS.href("").starts_with("/static/deadman.css?v="));
    }
}
