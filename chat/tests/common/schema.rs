//! Checks real answers against the OpenAPI document: finds the operation and
//! the response a request got, and validates the body against its schema.
//!
//! The validator knows the subset of JSON Schema the document uses (`type`,
//! `properties`, `required`, `additionalProperties`, `items`, `enum`, `oneOf`,
//! `anyOf`, `allOf`, `nullable`, `$ref`, the length and range bounds, and the
//! one `pattern` the ids use) and refuses any other keyword, so a schema it
//! cannot check fails loudly instead of passing. One deliberate strictness:
//! an object schema without `additionalProperties` admits no property it does
//! not name, so a field the server sends must be in the document.

use serde_json::Value;

use super::api::Exchange;

/// Keywords that describe and constrain nothing.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "format",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

pub struct OpenApi {
    doc: Value,
    /// The prefix of every path (`servers[0].url`).
    prefix: String,
}

impl OpenApi {
    pub fn new(doc: Value) -> OpenApi {
        let prefix = doc["servers"][0]["url"].as_str().unwrap_or("").to_string();
        OpenApi { doc, prefix }
    }

    /// The documented path template a concrete path matches: literal segments
    /// must be equal, `{param}` segments match any one segment; with several
    /// matches, the one with the most literal segments.
    pub fn template(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(&self.prefix)?;
        let segs: Vec<&str> = rest.split('/').collect();
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter_map(|t| {
                let tsegs: Vec<&str> = t.split('/').collect();
                if tsegs.len() != segs.len() {
                    return None;
                }
                let mut literal = 0;
                for (t, s) in tsegs.iter().zip(&segs) {
                    if t.starts_with('{') && t.ends_with('}') {
                        if s.is_empty() {
                            return None;
                        }
                    } else if t == s {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, t))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, t)| t.clone())
    }

    /// `operationId` of a request, if documented.
    pub fn operation_id(&self, method: &str, path: &str) -> Option<String> {
        let t = self.template(path)?;
        self.doc["paths"][&t][method.to_lowercase()]["operationId"]
            .as_str()
            .map(str::to_string)
    }

    /// Checks one exchange: the operation and the status are documented, and
    /// the body has the documented shape. Returns what disagrees.
    pub fn check(&self, ex: &Exchange) -> Vec<String> {
        let what = format!("{} {} → {}", ex.method, ex.path, ex.status);
        let Some(t) = self.template(&ex.path) else {
            return vec![format!("{what}: path not documented")];
        };
        let op = &self.doc["paths"][&t][ex.method.to_lowercase()];
        if op.is_null() {
            return vec![format!("{what}: method not documented for {t}")];
        }
        let resp = &op["responses"][ex.status.to_string()];
        if resp.is_null() {
            return vec![format!("{what}: status not documented for {t}")];
        }
        let resp = self.resolve(resp);
        let Some(schema) = resp["content"]["application/json"].get("schema") else {
            return if ex.body.is_null() {
                Vec::new()
            } else {
                vec![format!("{what}: a body where the document declares none")]
            };
        };
        let mut errs = Vec::new();
        self.validate(schema, &ex.body, "$", &mut errs);
        errs.into_iter()
            .map(|e| format!("{what}: {e}\n  body: {}", ex.body))
            .collect()
    }

    /// Follows a `$ref` (a JSON pointer into the document).
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let ptr = r.strip_prefix('#').expect("local $ref");
                let target = self
                    .doc
                    .pointer(ptr)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
                self.resolve(target)
            }
            None => v,
        }
    }

    /// Validates `v` against `schema`, pushing each disagreement with the
    /// place (`$.chats[0].chat.id`) where it is.
    pub fn validate(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            match schema {
                Value::Bool(true) => {}
                Value::Bool(false) => errs.push(format!("{at}: no value allowed")),
                _ => panic!("schema at {at} is neither an object nor a boolean: {schema}"),
            }
            return;
        };
        if s.get("nullable") == Some(&Value::Bool(true)) && v.is_null() {
            return;
        }
        for (k, kv) in s {
            match k.as_str() {
                "$ref" => {
                    let target = self.resolve(schema);
                    self.validate(target, v, at, errs);
                }
                "type" => check_type(kv, v, at, errs),
                "enum" => {
                    let options = kv.as_array().expect("enum is an array");
                    if !options.contains(v) {
                        errs.push(format!("{at}: {v} is not one of {kv}"));
                    }
                }
                "properties" | "required" | "additionalProperties" => {
                    // Checked together below, for objects.
                }
                "items" => {
                    if let Some(items) = v.as_array() {
                        for (i, item) in items.iter().enumerate() {
                            self.validate(kv, item, &format!("{at}[{i}]"), errs);
                        }
                    }
                }
                "oneOf" | "anyOf" => {
                    let branches = kv.as_array().expect("oneOf/anyOf is an array");
                    let matching = branches
                        .iter()
                        .filter(|b| {
                            let mut e = Vec::new();
                            self.validate(b, v, at, &mut e);
                            e.is_empty()
                        })
                        .count();
                    let fine = if k == "oneOf" {
                        matching == 1
                    } else {
                        matching >= 1
                    };
                    if !fine {
                        errs.push(format!("{at}: {matching} of the {k} branches match {v}"));
                    }
                }
                "allOf" => {
                    for b in kv.as_array().expect("allOf is an array") {
                        self.validate(b, v, at, errs);
                    }
                }
                "nullable" => {}
                "pattern" => {
                    let p = kv.as_str().expect("pattern is a string");
                    if let Some(text) = v.as_str() {
                        assert_eq!(
                            p, "^[0-9]+$",
                            "the validator knows only the id pattern, not {p:?} (at {at})"
                        );
                        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                            errs.push(format!("{at}: {text:?} does not match {p}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let Some(text) = v.as_str() {
                        let n = text.chars().count() as u64;
                        let bound = kv.as_u64().expect("length bound");
                        if (k == "minLength" && n < bound) || (k == "maxLength" && n > bound) {
                            errs.push(format!("{at}: length {n} breaks {k} {bound}"));
                        }
                    }
                }
                "minItems" | "maxItems" => {
                    if let Some(items) = v.as_array() {
                        let n = items.len() as u64;
                        let bound = kv.as_u64().expect("items bound");
                        if (k == "minItems" && n < bound) || (k == "maxItems" && n > bound) {
                            errs.push(format!("{at}: {n} items break {k} {bound}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(n), Some(bound)) = (v.as_f64(), kv.as_f64())
                        && ((k == "minimum" && n < bound) || (k == "maximum" && n > bound))
                    {
                        errs.push(format!("{at}: {n} breaks {k} {bound}"));
                    }
                }
                other if ANNOTATIONS.contains(&other) => {}
                other => panic!("the validator does not know the keyword {other:?} (at {at})"),
            }
        }
        if let Some(obj) = v.as_object()
            && (s.contains_key("properties") || s.contains_key("required"))
        {
            let empty = serde_json::Map::new();
            let props = s
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().expect("required names");
                if !obj.contains_key(r) {
                    errs.push(format!("{at}: required property {r:?} is missing"));
                }
            }
            for (name, value) in obj {
                let here = format!("{at}.{name}");
                match (props.get(name), s.get("additionalProperties")) {
                    (Some(p), _) => self.validate(p, value, &here, errs),
                    (None, Some(extra)) => self.validate(extra, value, &here, errs),
                    (None, None) => errs.push(format!("{here}: property not in the document")),
                }
            }
        }
    }
}

fn check_type(t: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let is = |name: &str| match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other:?} in the document (at {at})"),
    };
    let ok = match t {
        Value::String(name) => is(name),
        Value::Array(names) => names.iter().any(|n| is(n.as_str().expect("type name"))),
        _ => panic!("type at {at} is {t}"),
    };
    if !ok {
        errs.push(format!("{at}: {v} is not of type {t}"));
    }
}
