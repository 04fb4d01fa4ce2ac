//! Metrics exist from the start (issue 17): every metric of docs/operations.md's
//! table is exported by `/metrics` as soon as a process serves it, at zero,
//! not only after its first increment; and the Grafana dashboards
//! (deploy/monitoring/dashboards) and alert rules (deploy/monitoring/alerts.yaml)
//! read only metrics the code exports, so renaming one in the code fails here.
//!
//! The standalone server runs as a process (its own metrics registry); the
//! distributed roles' metrics are checked in this process, after the
//! `metrics::init()` of every crate and the label values that only become
//! known at run time (shard names, assigned partitions) that the roles touch.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// The metrics table of docs/operations.md's "Metrics" section: name → type
/// (`counter`, `gauge`, `histogram`).
fn documented() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("docs/operations.md")).expect("the docs");
    let section = text
        .split("\n## Metrics\n")
        .nth(1)
        .expect("a \"## Metrics\" section");
    let table = section.split("\n#").next().unwrap_or_default();
    let mut out = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`');
        let kind = cells[2].split(',').next().unwrap_or_default().trim();
        out.insert(name.to_string(), kind.to_string());
    }
    assert!(out.len() > 30, "the metrics table was found: {out:?}");
    out
}

/// Metrics of the distributed roles only: the Kafka log's, and the shards'
/// (labelled by shard).
fn distributed_only(name: &str) -> bool {
    name.starts_with("log_") || name == "store_shard_apply_seconds"
}

/// The families of a Prometheus text exposition: name → type.
fn exposed(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// Compares what a process exports with the docs' table (rows `wanted`).
fn missing(docs: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> Vec<String> {
    docs.iter()
        .filter_map(|(name, kind)| match have.get(name) {
            None => Some(format!("{name} ({kind}) is not exported")),
            Some(k) if k != kind => Some(format!("{name} is a {k}, the docs say {kind}")),
            Some(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_exports_every_documented_metric_from_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_standalone(dir.path(), "server.log");
    // Right after the banner: nothing was sent, no client connected.
    let text = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("the metrics");
    let have = exposed(&text);
    let docs: BTreeMap<_, _> = documented()
        .into_iter()
        .filter(|(name, _)| !distributed_only(name))
        .collect();
    let missing = missing(&docs, &have);
    assert!(
        missing.is_empty(),
        "from start-up, /metrics must export every metric of docs/operations.md:\n  {}\n\n{text}",
        missing.join("\n  ")
    );
    // Label values known in advance are there at zero too.
    for series in [
        "gateway_errors_total{code=\"internal\"} 0",
        "gateway_throttled_total{limit=\"send\"} 0",
        "gateway_connections_refused_total{reason=\"per_address\"} 0",
        "gateway_idle_closed_total{kind=\"websocket\"} 0",
        "writer_rejected_total{code=\"not_member\"} 0",
        "writer_refused_batches_total{reason=\"fenced\"} 0",
        "store_errors_total{kind=\"unavailable\",op=\"apply\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == series),
            "{series} is exported:\n{text}"
        );
    }
    // And nothing undocumented.
    let extra: Vec<_> = have.keys().filter(|n| !docs.contains_key(*n)).collect();
    assert!(extra.is_empty(), "exported but not documented: {extra:?}");
}

/// Every metric registered in this process after the start-up of every
/// role: each crate's `metrics::init()`, and the series the roles create
/// once they know the label values (a shard's name, a partition assigned).
#[cfg(feature = "distributed")]
fn registered() -> BTreeMap<String, String> {
    chat_gateway::metrics::init();
    chat_writer::metrics::init();
    chat_fanout::metrics::init();
    chat_store::metrics::init();
    chat_store::metrics::init_sqlite();
    chat_store::metrics::shards(["shard0"]);
    chat_kafka::metrics::init();
    chat_kafka::metrics::assigned("chat.commands", "writer.chat.commands", [0]);
    exposed(&chat_gateway::metrics::render())
}

#[cfg(feature = "distributed")]
#[test]
fn every_documented_metric_is_registered_at_start_up() {
    let have = registered();
    let missing = missing(&documented(), &have);
    assert!(
        missing.is_empty(),
        "after every role's start-up the registry must hold every metric of docs/operations.md:\n  {}",
        missing.join("\n  ")
    );
    let docs = documented();
    let extra: Vec<_> = have.keys().filter(|n| !docs.contains_key(*n)).collect();
    assert!(extra.is_empty(), "registered but not documented: {extra:?}");
}

/// PromQL words followed by a list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Other PromQL words that are not metric names: aggregations and
/// functions are told by the `(` after them, these by their place.
const PROMQL_WORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "inf", "nan"];

/// The metric names a PromQL expression reads: every identifier that is not
/// a function or aggregation (followed by `(`), a keyword, a label name
/// (inside `{…}`, or the lists of `by`, `without`, `on`, `ignoring`,
/// `group_left`, `group_right`), a number or duration, a string, or a
/// Grafana variable (`$__rate_interval`, `${datasource}`).
fn promql_metrics(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let skip_to = |i: usize, close: u8| {
        let mut j = i;
        while j < b.len() && b[j] != close {
            if matches!(b[j], b'"' | b'\'' | b'`') {
                let q = b[j];
                j += 1;
                while j < b.len() && b[j] != q {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b'"' | b'\'' | b'`') {
            i = skip_to(i + 1, c);
        } else if c == b'{' {
            i = skip_to(i + 1, b'}');
        } else if c == b'[' {
            i = skip_to(i + 1, b']');
        } else if c == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                i = skip_to(i + 1, b'}');
            } else {
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (ident(b[i]) || b[i] == b'.') {
                i += 1;
            }
        } else if ident(c) {
            let start = i;
            while i < b.len() && ident(b[i]) {
                i += 1;
            }
            let word = expr[start..i].to_string();
            let mut k = i;
            while k < b.len() && b[k].is_ascii_whitespace() {
                k += 1;
            }
            let lower = word.to_ascii_lowercase();
            // An aggregation may have its `by (…)` or `without (…)` first.
            let next = expr[k..]
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if b.get(k) == Some(&b'(') {
                if LABEL_LISTS.contains(&lower.as_str()) {
                    i = skip_to(k + 1, b')');
                }
            } else if next == "by" || next == "without" {
                // An aggregation: its list is skipped next.
            } else if !PROMQL_WORDS.contains(&lower.as_str())
                && !LABEL_LISTS.contains(&lower.as_str())
            {
                out.insert(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Every PromQL expression of the dashboards (`file: panel`, expr) and of
/// the alert rules (`alerts.yaml: alert`, expr).
#[cfg(feature = "distributed")]
fn monitoring_queries() -> Vec<(String, String)> {
    let dir = root().join("deploy/monitoring");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir.join("dashboards"))
        .expect("deploy/monitoring/dashboards")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no dashboards");
    fn panels(v: &serde_json::Value, file: &str, out: &mut Vec<(String, String)>) {
        for p in v["panels"].as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((format!("{file}: {}", p["title"]), e.to_string()));
                }
            }
            panels(p, file, out);
        }
    }
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        panels(&v, &name, &mut out);
    }
    // Rules are one `expr:` line each (checked by deploy/validate.sh too).
    let rules = std::fs::read_to_string(dir.join("alerts.yaml")).expect("alerts.yaml");
    let mut alert = String::new();
    for line in rules.lines().map(str::trim) {
        if let Some(a) = line.strip_prefix("- alert:") {
            alert = a.trim().to_string();
        } else if let Some(e) = line.strip_prefix("expr:") {
            out.push((format!("alerts.yaml: {alert}"), e.trim().to_string()));
        }
    }
    out
}

#[test]
fn promql_metric_names_are_found() {
    let names = |e: &str| promql_metrics(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            "histogram_quantile(0.99, sum by (le, instance) (rate(a_seconds_bucket{x=\"b_c\", job=~\"$job\"}[$__rate_interval])))"
        ),
        ["a_seconds_bucket"]
    );
    assert_eq!(
        names("sum without (pod) (b) / on (instance) group_left (role) c offset 5m > bool 1e3"),
        ["b", "c"]
    );
    assert_eq!(
        names("time() - max(d > 0) and topk(10, e) unless count_values(\"v\", f) or vector(0)"),
        ["d", "e", "f"]
    );
}

/// Fails when a dashboard or an alert rule reads a metric the code does not
/// export (a metric renamed in the code, a typo in a query).
#[cfg(feature = "distributed")]
#[test]
fn dashboards_and_alert_rules_read_only_exported_metrics() {
    let have = registered();
    let mut series: BTreeSet<String> = have.keys().cloned().collect();
    for (name, kind) in &have {
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                series.insert(format!("{name}{suffix}"));
            }
        }
    }
    let queries = monitoring_queries();
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for (place, expr) in &queries {
        let names = promql_metrics(expr);
        assert!(!names.is_empty(), "{place}: no metric in {expr}");
        for n in names {
            if !series.contains(&n) {
                unknown.push(format!("{place}: {n} (in {expr})"));
            }
            used.insert(n);
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics the code does not export:\n  {}",
        unknown.join("\n  ")
    );
    assert!(used.len() > 30, "the queries were read: {used:?}");
}
