//! The web client at `/`: from files embedded in the binary at build time,
//! from a directory (client development), or not at all (API only).
//!
//! Embedded files are answered from memory, gzipped at build time for a
//! client that takes it, with an `ETag` (a hash of the content, so
//! `If-None-Match` gets a 304) and cache headers: Vite's
//! `assets/` names carry a content hash, so they are cached for a year;
//! `index.html` is revalidated on every load. A path that is no file is the
//! single-page app's own route and gets `index.html`, except under
//! `assets/` (a missing asset is a 404, not a page).

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Files of a built web client: path relative to the build's root (`index.html`,
/// `assets/index-….js`), content, and the content gzipped (empty when not).
pub type Files = &'static [(&'static str, &'static [u8], &'static [u8])];

/// Where the web client comes from.
#[derive(Clone, Debug, Default)]
pub enum WebClient {
    /// Not served: `/` answers 404 with a hint.
    #[default]
    None,
    /// A directory holding a build (`web/dist`), read on each request.
    Dir(PathBuf),
    /// Files embedded in the binary.
    Embedded(Files),
}

impl WebClient {
    /// `Dir` when `dir` is given, else `Embedded` when `files` holds an
    /// `index.html`, else `None`.
    pub fn choose(dir: Option<PathBuf>, files: Option<Files>) -> WebClient {
        match (dir, files) {
            (Some(d), _) => WebClient::Dir(d),
            (None, Some(f)) if f.iter().any(|(p, _, _)| *p == "index.html") => {
                WebClient::Embedded(f)
            }
            _ => WebClient::None,
        }
    }

    /// Whether a client is served.
    pub fn is_served(&self) -> bool {
        !matches!(self, WebClient::None)
    }

    /// Where it comes from, for the startup line.
    pub fn describe(&self) -> String {
        match self {
            WebClient::None => "not served".into(),
            WebClient::Dir(d) => format!("from {}", d.display()),
            WebClient::Embedded(f) => format!("embedded, {} files", f.len()),
        }
    }

    /// Adds the client as `router`'s fallback.
    pub(crate) fn route<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        match self {
            WebClient::None => router.fallback(no_web_client),
            WebClient::Dir(dir) => router.fallback_service(
                tower_http::services::ServeDir::new(dir)
                    .fallback(tower_http::services::ServeFile::new(dir.join("index.html"))),
            ),
            WebClient::Embedded(files) => {
                let assets = Arc::new(Assets::new(files));
                router.fallback(move |req: Request| {
                    let assets = assets.clone();
                    async move { assets.serve(&req) }
                })
            }
        }
    }
}

async fn no_web_client() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this build of the server has no web client (Node.js was missing when it was built); \
         rebuild with Node.js >= 20.19 on the PATH, or pass --web-dir with a build of web/, \
         or use the API under /api/v1",
    )
        .into_response()
}

struct Asset {
    body: &'static [u8],
    etag: HeaderValue,
    /// Gzipped body and its tag.
    gz: Option<(&'static [u8], HeaderValue)>,
    content_type: &'static str,
    cache: &'static str,
}

struct Assets {
    files: HashMap<&'static str, Asset>,
}

impl Assets {
    fn new(files: Files) -> Assets {
        let files = files
            .iter()
            .map(|(path, body, gz)| {
                let mut h = std::hash::DefaultHasher::new();
                h.write(body);
                let tag = h.finish();
                let etag = HeaderValue::from_str(&format!("\"{tag:016x}\""))
                    .expect("hex is a valid header value");
                let gz = (!gz.is_empty()).then(|| {
                    let etag = HeaderValue::from_str(&format!("\"{tag:016x}-gz\""))
                        .expect("hex is a valid header value");
                    (*gz, etag)
                });
                let cache = if path.starts_with("assets/") {
                    "public, max-age=31536000, immutable"
                } else if *path == "index.html" {
                    "no-cache"
                } else {
                    "public, max-age=3600"
                };
                let asset = Asset {
                    body,
                    etag,
                    gz,
                    content_type: content_type(path),
                    cache,
                };
                (*path, asset)
            })
            .collect();
        Assets { files }
    }

    fn serve(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "GET, HEAD")],
                "the web client is read with GET",
            )
                .into_response();
        }
        let path = req.uri().path().trim_start_matches('/');
        let asset = match self.files.get(path) {
            Some(a) => a,
            None if path.starts_with("assets/") => {
                return (StatusCode::NOT_FOUND, "no such file").into_response();
            }
            // The app's own routes, and `/`.
            None => match self.files.get("index.html") {
                Some(a) => a,
                None => return (StatusCode::NOT_FOUND, "no such file").into_response(),
            },
        };
        let gz = asset.gz.as_ref().filter(|_| accepts_gzip(req));
        let (body, etag) = gz.map_or((asset.body, &asset.etag), |(b, t)| (*b, t));
        let fresh = req
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/").as_bytes() == etag.as_bytes()
            });
        let mut res = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else if req.method() == Method::HEAD {
            let mut r = StatusCode::OK.into_response();
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, body.len().into());
            r
        } else {
            Response::new(Body::from(body))
        };
        let h = res.headers_mut();
        h.insert(header::ETAG, etag.clone());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(asset.cache));
        if asset.gz.is_some() {
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        if gz.is_some() && !fresh {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if !fresh {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
        }
        res
    }
}

/// Whether `Accept-Encoding` takes gzip (named without `q=0`).
fn accepts_gzip(req: &Request) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    static FILES: Files = &[
        (
            "index.html",
            b"<!doctype html><script src=\"/assets/app-1.js\"></script>",
            b"",
        ),
        ("assets/app-1.js", b"console.log(1)", b"GZ"),
        ("favicon.svg", b"<svg/>", b""),
    ];

    fn app() -> Router {
        WebClient::Embedded(FILES).route(Router::new())
    }

    async fn get(uri: &str, etag: Option<&str>) -> Response {
        get_with(uri, etag, None).await
    }

    async fn get_with(uri: &str, etag: Option<&str>, encoding: Option<&str>) -> Response {
        let mut req = HttpRequest::get(uri);
        if let Some(t) = etag {
            req = req.header(header::IF_NONE_MATCH, t);
        }
        if let Some(e) = encoding {
            req = req.header(header::ACCEPT_ENCODING, e);
        }
        app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(res: Response) -> Vec<u8> {
        axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn serves_files_with_types_and_cache_headers() {
        let res = get("/", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(body(res).await, FILES[0].1);

        let res = get("/assets/app-1.js", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(
            res.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(body(res).await, b"console.log(1)");
        assert_eq!(
            get("/favicon.svg", None).await.headers()[header::CONTENT_TYPE],
            "image/svg+xml"
        );
    }

    #[tokio::test]
    async fn app_routes_get_the_page_and_missing_assets_a_404() {
        let res = get("/chats/42", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, FILES[0].1);
        assert_eq!(
            get("/assets/gone-2.js", None).await.status(),
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn a_known_etag_gets_304_and_other_methods_405() {
        let etag = get("/assets/app-1.js", None).await.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .to_string();
        let res = get("/assets/app-1.js", Some(&etag)).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        assert!(body(res).await.is_empty());
        let res = get("/assets/app-1.js", Some("\"other\"")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = get("/assets/app-1.js", Some(&format!("\"x\", W/{etag}"))).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

        let req = HttpRequest::post("/").body(Body::empty()).unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        let req = HttpRequest::head("/").body(Body::empty()).unwrap();
        let res = app().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_LENGTH],
            FILES[0].1.len().to_string()
        );
        assert!(body(res).await.is_empty());
    }

    #[tokio::test]
    async fn gzip_goes_to_clients_that_take_it() {
        let res = get_with("/assets/app-1.js", None, Some("br, gzip;q=0.8")).await;
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(res.headers()[header::VARY], "accept-encoding");
        let etag = res.headers()[header::ETAG].clone();
        assert_eq!(body(res).await, b"GZ");
        for refused in [None, Some("gzip;q=0"), Some("br")] {
            let res = get_with("/assets/app-1.js", None, refused).await;
            assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
            assert_ne!(res.headers()[header::ETAG], etag);
            assert_eq!(body(res).await, b"console.log(1)");
        }
        let res = get_with("/assets/app-1.js", etag.to_str().ok(), Some("gzip")).await;
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
        let res = get_with("/", None, Some("gzip")).await;
        assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn a_directory_wins_over_embedded_files_and_files_need_a_page() {
        assert!(matches!(
            WebClient::choose(Some("x".into()), Some(FILES)),
            WebClient::Dir(_)
        ));
        assert!(matches!(
            WebClient::choose(None, Some(FILES)),
            WebClient::Embedded(_)
        ));
        assert!(matches!(
            WebClient::choose(None, Some(&[("a.js", b"", b"")])),
            WebClient::None
        ));
        assert!(!WebClient::choose(None, None).is_served());
    }
}
