//! The OpenAPI document served by the gateway names only routes that exist, and
//! every `/api/v1` route the server answers is in it.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let s = TestServer::start().await;
    let api = s.api();
    let (st, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            ops += 1;
            let concrete = path
                .replace("{chat_id}", "1")
                .replace("{user_id}", "1")
                .replace("{seq}", "1")
                .replace("{name}", "someone");
            let url = format!("/api/v1{concrete}");
            let body = if ["post", "put", "patch"].contains(&method.as_str()) {
                Some(Value::Object(Default::default()))
            } else {
                None
            };
            let (status, v) = api.call(&method.to_uppercase(), &url, None, body).await;
            // Unauthenticated or empty bodies are refused, but by the route itself:
            // never by the "no such endpoint" fallback nor as a wrong method.
            assert_ne!(
                v["error"]["code"], "not_found",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                status, 405,
                "{method} {path} is documented but the method is not routed"
            );
            let documented: Vec<&String> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .collect();
            assert!(
                documented.iter().any(|c| c.as_str() == status.to_string()),
                "{method} {path} answered {status}, documented {documented:?}"
            );
        }
    }
    assert_eq!(ops, 19, "operations in the document");
    // An undocumented path is the fallback's 404.
    let (st, v) = api.call("GET", "/api/v1/undocumented", None, None).await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    s.stop().await;
}
