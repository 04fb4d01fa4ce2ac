//! Embeds the web client (`web/`, built by Vite) in the binary, so that the
//! first command of the README serves the whole product.
//!
//! - `CHAT_WEB_DIST=DIR`: embed that build as it is (the container image
//!   builds the client in its own stage).
//! - Otherwise, when Node.js and npm are on the PATH: `npm ci` (only when
//!   `web/node_modules` is missing or older than the lockfile), then
//!   `vite build` into this build's own output directory. Cargo runs this
//!   again only when a file under `web/` that the client is built from
//!   changes.
//! - `CHAT_WEB_BUILD=0`, no npm, or a failed build: no client is embedded
//!   (`web/dist` is embedded instead when it holds a build); the server then
//!   serves the API only unless given `--web-dir`. A warning says which.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of `web/` the client is built from.
const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "env.d.ts",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let web = manifest.join("../web");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CHAT_WEB_DIST");
    println!("cargo::rerun-if-env-changed=CHAT_WEB_BUILD");
    println!("cargo::rerun-if-env-changed=PATH");
    for s in SOURCES {
        let p = web.join(s);
        if p.exists() {
            println!("cargo::rerun-if-changed={}", p.display());
        }
    }
    let (files, origin) = match client(&web, &out.join("web-dist")) {
        Ok((dir, origin)) => {
            let files = list(&dir);
            let bytes: u64 = files
                .iter()
                .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
                .sum();
            println!(
                "cargo::warning=web client embedded ({origin}): {} files, {} KiB",
                files.len(),
                bytes.div_ceil(1024)
            );
            (files, origin)
        }
        Err(why) => {
            println!(
                "cargo::warning=web client NOT embedded: {why}. The binary serves the API only \
                 unless started with --web-dir"
            );
            (Vec::new(), format!("not embedded: {why}"))
        }
    };
    let mut code = String::from(
        "/// The built web client's files (path, content, gzipped content or empty);\n\
         /// none when no client was embedded.\n\
         pub static FILES: &[(&str, &[u8], &[u8])] = &[\n",
    );
    let gz_dir = out.join("web-gz");
    let _ = fs::remove_dir_all(&gz_dir);
    for (rel, path) in &files {
        let gz = gzipped(rel, path, &gz_dir)
            .map(|p| format!("include_bytes!({:?})", p.display().to_string()))
            .unwrap_or_else(|| "b\"\"".into());
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?}), {gz}),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// Where the embedded client came from, or why there is none.\n\
         pub const ORIGIN: &str = {origin:?};\n"
    ));
    let mut f = fs::File::create(out.join("web_files.rs")).expect("write web_files.rs");
    f.write_all(code.as_bytes()).expect("write web_files.rs");
}

/// The directory of the build to embed, and where it came from.
fn client(web: &Path, dist: &Path) -> Result<(PathBuf, String), String> {
    if let Some(d) = std::env::var_os("CHAT_WEB_DIST") {
        let d = PathBuf::from(d);
        if !d.join("index.html").is_file() {
            panic!(
                "CHAT_WEB_DIST={} holds no index.html: point it at a build of web/ (npm run build)",
                d.display()
            );
        }
        return Ok((d, "from CHAT_WEB_DIST".into()));
    }
    let prebuilt = web.join("dist");
    let or_prebuilt = |why: String| {
        if prebuilt.join("index.html").is_file() {
            Ok((prebuilt.clone(), format!("web/dist as found; {why}")))
        } else {
            Err(why)
        }
    };
    if std::env::var("CHAT_WEB_BUILD").is_ok_and(|v| ["0", "false", "off", "no"].contains(&&*v)) {
        return or_prebuilt("CHAT_WEB_BUILD=0".into());
    }
    if !web.join("package.json").is_file() {
        return or_prebuilt("no web/ sources beside the crate".into());
    }
    if Command::new("npm").arg("--version").output().is_err() {
        // Looked for again on the next build (a path that never exists
        // makes cargo run this every time; finding no npm is quick).
        println!(
            "cargo::rerun-if-changed={}",
            dist.join("npm-missing").display()
        );
        return or_prebuilt(
            "npm was not found on the PATH (install Node.js >= 20.19 with npm and build again)"
                .into(),
        );
    }
    // One build at a time (cargo may run this for several profiles at once,
    // and both would install into web/node_modules).
    let lock = fs::File::open(web.join("package.json")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| format!("locking web/: {e}"))?;
    if stale(web) {
        let installed = run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(web),
            "npm ci",
        );
        if let Err(e) = installed {
            return or_prebuilt(e);
        }
    }
    let built = run(
        Command::new("node")
            .arg("node_modules/vite/bin/vite.js")
            .args(["build", "--logLevel", "warn", "--emptyOutDir", "--outDir"])
            .arg(dist)
            .current_dir(web),
        "vite build",
    );
    match built {
        Ok(()) if dist.join("index.html").is_file() => {
            Ok((dist.to_path_buf(), "built from web/".into()))
        }
        Ok(()) => or_prebuilt("vite build wrote no index.html".into()),
        Err(e) => or_prebuilt(e),
    }
}

/// A gzipped copy of a text file (under `dir`) when that saves a tenth.
fn gzipped(rel: &str, path: &Path, dir: &Path) -> Option<PathBuf> {
    let text = [
        ".html",
        ".js",
        ".mjs",
        ".css",
        ".json",
        ".svg",
        ".map",
        ".txt",
        ".webmanifest",
    ];
    if !text.iter().any(|e| rel.ends_with(e)) {
        return None;
    }
    let body = fs::read(path).ok()?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&body).ok()?;
    let gz = enc.finish().ok()?;
    if gz.len() * 10 > body.len() * 9 {
        return None;
    }
    let to = dir.join(format!("{rel}.gz"));
    fs::create_dir_all(to.parent()?).ok()?;
    fs::write(&to, gz).ok()?;
    Some(to)
}

/// Whether `web/node_modules` is missing or older than the lockfile.
fn stale(web: &Path) -> bool {
    let modified = |p: PathBuf| fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(web.join("node_modules/.package-lock.json")),
        modified(web.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

/// Runs `cmd`; on failure, the end of its output.
fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().rev().take(6).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "{what} failed ({}): {}",
        out.status,
        tail.join(" | ")
    ))
}

/// Every file under `dir`: path relative to it (with `/`) and full path.
fn list(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push((rel.join("/"), p.canonicalize().unwrap_or(p)));
            }
        }
    }
    files.sort();
    files
}
