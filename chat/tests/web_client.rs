//! The binary serves the web client embedded at build time: `chat standalone`
//! with no `--web-dir`, started from a directory with no `web/dist`, answers
//! `/` with the page and its script with JavaScript (gzipped when asked).
//! The browser tests (web/e2e) then drive the same embedded client.

mod common;

use common::*;

#[tokio::test]
async fn the_standalone_binary_serves_the_embedded_web_client() {
    assert!(
        chat::web::FILES.iter().any(|(p, _, _)| *p == "index.html"),
        "no web client was embedded in this build ({}); the build needs Node.js >= 20.19 \
         and npm on the PATH (chat/build.rs)",
        chat::web::ORIGIN
    );
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().join("web/dist").exists());
    let server = spawn_standalone(dir.path(), "server.log");
    let base = server.base_url();
    let http = reqwest::Client::new();

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    let src = html
        .split("<script type=\"module\"")
        .nth(1)
        .and_then(|s| s.split("src=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no module script in the page: {html}"));
    assert!(src.starts_with("/assets/"), "{src}");

    let js = http.get(format!("{base}{src}")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = js.headers()["etag"].clone();
    let plain = js.bytes().await.unwrap();
    assert!(plain.len() > 1000, "{} bytes", plain.len());

    let gz = http
        .get(format!("{base}{src}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let packed = gz.bytes().await.unwrap();
    assert_eq!(&packed[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(packed.len() < plain.len());

    let again = http
        .get(format!("{base}{src}"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // The app's own routes get the page; the API stays the API.
    let route = http.get(format!("{base}/chats/12")).send().await.unwrap();
    assert_eq!(route.text().await.unwrap(), html);
    let api = http
        .get(format!("{base}/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    assert_eq!(
        api.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
}

#[tokio::test]
async fn web_dir_overrides_the_embedded_client() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("dist");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<p>a local build</p>").unwrap();
    let server = standalone_process(dir.path(), "server.log")
        .arg("--web-dir")
        .arg(&web)
        .start();
    let page = reqwest::get(format!("{}/", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page, "<p>a local build</p>");
}
