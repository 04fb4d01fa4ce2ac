#!/usr/bin/env python3
"""Consistency checks of the deployment files against each other and the code.

Schemas say whether a manifest is well-formed; these say whether it is right for
this program: the gateway's grace period covers its drain, writers and fanout
workers do not outnumber the partitions, every CHAT_* variable is one the binary
reads, the docs name every setting and metric, the Grafana dashboards are
well-formed and read only metrics of the code, and so on.

    check_deploy.py ROOT RENDERED_DIR

RENDERED_DIR holds base.yaml, dev.yaml and prod.yaml (kustomize build output).
Prints one line per check, `ok NAME` or `FAIL NAME: why`, and exits 0; the caller
(deploy/validate.sh) counts the lines.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import promql_parser
import yaml

ROOT = Path(sys.argv[1]).resolve()
RENDERED = Path(sys.argv[2])
OVERLAYS = ["base", "dev", "prod"]

# preStop + CHAT_DRAIN_SECS + this margin <= terminationGracePeriodSeconds.
DRAIN_MARGIN_SECS = 10
MAX_NODE_ID = 1023
GATEWAY_PORT = 8080
WORKER_PORT = 9100
ROLE_COMPONENTS = {"gateway", "writer", "fanout"}


def report(name: str, problems: list[str]) -> None:
    if problems:
        print(f"FAIL {name}: " + "; ".join(problems))
    else:
        print(f"ok {name}")


# ---------------------------------------------------------------- the code ----


def config_keys() -> dict[str, dict]:
    """Flags and CHAT_* variables declared in chat/src/config.rs, by struct."""
    src = (ROOT / "chat/src/config.rs").read_text()
    keys: dict[str, dict] = {}
    struct = None
    attrs = ""
    for line in src.splitlines():
        s = line.strip()
        m = re.match(r"pub struct (\w+)", s)
        if m:
            struct = m.group(1)
            attrs = ""
            continue
        if s.startswith("#[arg(") or (attrs and not s.startswith("pub ")):
            if not s.startswith("///"):
                attrs += s
            continue
        m = re.match(r"pub (\w+):", s)
        if m and attrs:
            env = re.search(r'env\s*=\s*"(CHAT_\w+)"', attrs)
            if "long" in attrs:
                flag = "--" + m.group(1).replace("_", "-")
                keys[flag] = {"env": env.group(1) if env else None, "struct": struct}
            attrs = ""
        elif not s.startswith("///"):
            attrs = ""
    return keys


KEYS = config_keys()
ENVS = {v["env"] for v in KEYS.values() if v["env"]}


def metric_names() -> set[str]:
    names = set()
    files = list(ROOT.glob("*/src/metrics.rs")) + list(ROOT.glob("adapters/*/src/metrics.rs"))
    for f in files:
        text = f.read_text()
        for m in re.finditer(r'(?:new|Opts::new|HistogramOpts::new)\(\s*"([a-z_][a-z0-9_]*)"', text):
            names.add(m.group(1))
    return names


METRICS = metric_names()
HISTOGRAMS = {
    m.group(1)
    for f in list(ROOT.glob("*/src/metrics.rs")) + list(ROOT.glob("adapters/*/src/metrics.rs"))
    for m in re.finditer(r'HistogramOpts::new\(\s*"([a-z_][a-z0-9_]*)"', f.read_text())
}
DASHBOARDS = ROOT / "deploy/monitoring/dashboards"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))

# ------------------------------------------------------- the manifests -------


def load(overlay: str) -> list[dict]:
    with open(RENDERED / f"{overlay}.yaml") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def workloads(docs):
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def pod_spec(w):
    return w["spec"]["template"]["spec"]


def component(w):
    return w["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def is_chat(w):
    return w["spec"]["template"]["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "chat"


def containers(w, init=True):
    spec = pod_spec(w)
    return spec.get("containers", []) + (spec.get("initContainers", []) if init else [])


def role_container(w):
    comp = component(w)
    return next(c for c in pod_spec(w)["containers"] if c["name"] == comp)


def env_of(docs, c) -> dict[str, str]:
    """The container's environment as the kubelet would build it (literal values
    and ConfigMap data; Secrets and fieldRefs as markers)."""
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            cms = find(docs, "ConfigMap", src["configMapRef"]["name"])
            if cms:
                env.update(cms[0].get("data", {}))
        if "secretRef" in src:
            for s in find(docs, "Secret", src["secretRef"]["name"]):
                env.update({k: "<secret>" for k in {**s.get("data", {}), **s.get("stringData", {})}})
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", "<valueFrom>")
    return env


def check_overlay(overlay: str) -> None:
    docs = load(overlay)
    tag = f"k8s[{overlay}]"

    # Gateway: StatefulSet, drain and grace period, node and instance ids.
    p = []
    gws = find(docs, "StatefulSet", "chat-gateway")
    if not gws:
        p.append("no StatefulSet chat-gateway")
    for gw in gws:
        spec = pod_spec(gw)
        c = role_container(gw)
        env = env_of(docs, c)
        drain = int(env.get("CHAT_DRAIN_SECS", "10"))
        pre = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < pre + drain + DRAIN_MARGIN_SECS:
            p.append(
                f"terminationGracePeriodSeconds {grace} < preStop {pre} + CHAT_DRAIN_SECS {drain}"
                f" + {DRAIN_MARGIN_SECS}"
            )
        node = next((e for e in c.get("env", []) if e["name"] == "CHAT_NODE_ID"), None)
        if not node or node.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != (
            "metadata.labels['apps.kubernetes.io/pod-index']"
        ):
            p.append("CHAT_NODE_ID must come from the pod-index label")
        inst = next((e for e in c.get("env", []) if e["name"] == "CHAT_INSTANCE_ID"), None)
        if not inst or "POD_UID" not in inst.get("value", ""):
            p.append("CHAT_INSTANCE_ID must include the pod UID (unique per incarnation)")
        if c.get("args", [None])[0] != "gateway":
            p.append("gateway container must run `chat gateway`")
    report(f"{tag} gateway drain, grace period and ids", p)

    # HPA.
    p = []
    hpas = find(docs, "HorizontalPodAutoscaler", "chat-gateway")
    if not hpas:
        p.append("no HPA chat-gateway")
    for h in hpas:
        ref = h["spec"]["scaleTargetRef"]
        if not find(docs, ref["kind"], ref["name"]):
            p.append(f"target {ref['kind']}/{ref['name']} missing")
        if h["spec"]["maxReplicas"] > MAX_NODE_ID + 1:
            p.append(f"maxReplicas {h['spec']['maxReplicas']} > {MAX_NODE_ID + 1} node ids")
        if h["spec"].get("minReplicas", 1) < 2:
            p.append("minReplicas < 2: the PDB would block every node drain")
        kinds = {
            (m["type"], (m.get("resource") or {}).get("name") or (m.get("pods") or {}).get("metric", {}).get("name"))
            for m in h["spec"].get("metrics", [])
        }
        for want in [("Resource", "cpu"), ("Pods", "gateway_connections")]:
            if want not in kinds:
                p.append(f"metric {want} missing")
        if "gateway_connections" not in METRICS:
            p.append("gateway_connections is not a metric of the code")
    report(f"{tag} gateway HPA", p)

    # Writers and fanout workers <= partitions.
    p = []
    for name in ["chat-writer", "chat-fanout"]:
        ds = find(docs, "Deployment", name)
        if not ds:
            p.append(f"no Deployment {name}")
        for d in ds:
            env = env_of(docs, role_container(d))
            parts = int(env.get("CHAT_PARTITIONS", "8"))
            if d["spec"].get("replicas", 1) > parts:
                p.append(f"{name} replicas {d['spec']['replicas']} > CHAT_PARTITIONS {parts}")
            if role_container(d).get("args", [None])[0] != name.removeprefix("chat-"):
                p.append(f"{name} must run `chat {name.removeprefix('chat-')}`")
    report(f"{tag} writer and fanout replicas <= partitions", p)

    # Probes, ports, Prometheus annotations of the roles.
    p = []
    for w in workloads(docs):
        comp = component(w)
        if not is_chat(w) or comp not in ROLE_COMPONENTS:
            continue
        c = role_container(w)
        env = env_of(docs, c)
        want = GATEWAY_PORT if comp == "gateway" else WORKER_PORT
        listen = env.get("CHAT_LISTEN" if comp == "gateway" else "CHAT_METRICS_LISTEN", "")
        if not listen.endswith(f":{want}") or not listen.startswith("0.0.0.0"):
            p.append(f"{comp}: listens on {listen!r}, expected 0.0.0.0:{want}")
        ports = {pt.get("name"): pt["containerPort"] for pt in c.get("ports", [])}
        for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
            g = c.get(probe, {}).get("httpGet")
            if not g or g.get("path") != path:
                p.append(f"{comp}: {probe} must GET {path}")
                continue
            port = ports.get(g["port"], g["port"])
            if port != want:
                p.append(f"{comp}: {probe} port {port} != {want}")
        ann = w["spec"]["template"]["metadata"].get("annotations", {})
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(want):
            p.append(f"{comp}: Prometheus scrape annotations missing or on the wrong port")
    report(f"{tag} probes, ports and scrape annotations", p)

    # Resources on every container of every workload.
    p = []
    for w in workloads(docs):
        for c in containers(w):
            r = c.get("resources", {})
            for part in ["requests", "limits"]:
                for res in ["cpu", "memory"]:
                    if res not in r.get(part, {}):
                        p.append(f"{w['metadata']['name']}/{c['name']}: no {part}.{res}")
    report(f"{tag} resource requests and limits", p)

    # Pod Security Standard "restricted" for the chat pods.
    p = []
    for w in workloads(docs):
        if not is_chat(w):
            continue
        spec = pod_spec(w)
        psc = spec.get("securityContext", {})
        name = w["metadata"]["name"]
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            p.append(f"{name}: seccompProfile RuntimeDefault")
        if spec.get("automountServiceAccountToken") is not False:
            p.append(f"{name}: automountServiceAccountToken false")
        for c in containers(w):
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
                p.append(f"{name}/{c['name']}: runAsNonRoot")
            if (sc.get("runAsUser", psc.get("runAsUser")) or 0) == 0:
                p.append(f"{name}/{c['name']}: numeric non-root runAsUser")
            if sc.get("allowPrivilegeEscalation") is not False:
                p.append(f"{name}/{c['name']}: allowPrivilegeEscalation false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                p.append(f"{name}/{c['name']}: drop ALL capabilities")
            if sc.get("readOnlyRootFilesystem") is not True:
                p.append(f"{name}/{c['name']}: readOnlyRootFilesystem")
    report(f"{tag} restricted pod security for the chat pods", p)

    # Every CHAT_* variable is one the binary reads.
    p = []
    for cm in find(docs, "ConfigMap"):
        for k in cm.get("data", {}):
            if k.startswith("CHAT_") and k not in ENVS:
                p.append(f"ConfigMap {cm['metadata']['name']}: {k} unknown")
    for s in find(docs, "Secret"):
        for k in {**s.get("data", {}), **s.get("stringData", {})}:
            if k.startswith("CHAT_") and k not in ENVS:
                p.append(f"Secret {s['metadata']['name']}: {k} unknown")
    for w in workloads(docs):
        for c in containers(w):
            for e in c.get("env", []):
                if e["name"].startswith("CHAT_") and e["name"] not in ENVS:
                    p.append(f"{w['metadata']['name']}/{c['name']}: {e['name']} unknown")
    report(f"{tag} every CHAT_* variable is read by the binary", p)

    # References resolve: ConfigMaps, Secrets, selectors, images.
    p = []
    external_secrets = {"chat-secrets"} if overlay == "prod" else set()
    pods = [w["spec"]["template"]["metadata"].get("labels", {}) for w in workloads(docs)]
    for w in workloads(docs):
        spec = pod_spec(w)
        refs = []
        for c in containers(w):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    refs.append(("ConfigMap", src["configMapRef"]["name"]))
                if "secretRef" in src:
                    refs.append(("Secret", src["secretRef"]["name"]))
            img = c["image"]
            if ":" not in img.rsplit("/", 1)[-1] or img.endswith(":latest"):
                p.append(f"{w['metadata']['name']}/{c['name']}: image {img} has no fixed tag")
        for v in spec.get("volumes", []):
            if "configMap" in v:
                refs.append(("ConfigMap", v["configMap"]["name"]))
        for kind, name in refs:
            if not find(docs, kind, name) and name not in external_secrets:
                p.append(f"{w['metadata']['name']}: {kind} {name} missing")
        if spec.get("serviceAccountName") and not find(docs, "ServiceAccount", spec["serviceAccountName"]):
            p.append(f"{w['metadata']['name']}: ServiceAccount {spec['serviceAccountName']} missing")
    for kind in ["Service", "PodDisruptionBudget"]:
        for o in find(docs, kind):
            sel = o["spec"]["selector"]
            sel = sel.get("matchLabels", sel) if kind == "PodDisruptionBudget" else sel
            if not any(all(lbl.get(k) == v for k, v in sel.items()) for lbl in pods):
                p.append(f"{kind} {o['metadata']['name']}: selector matches no pod")
    for sts in find(docs, "StatefulSet"):
        if not find(docs, "Service", sts["spec"]["serviceName"]):
            p.append(f"StatefulSet {sts['metadata']['name']}: governing Service missing")
    report(f"{tag} references, selectors and image tags", p)

    # Network policies: a default deny over the chat pods, and every chat
    # workload selected by a policy of its own that allows it something.
    p = []
    policies = find(docs, "NetworkPolicy")
    deny = [
        n for n in policies
        if n["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "chat"}
        and not n["spec"].get("ingress") and not n["spec"].get("egress")
        and set(n["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
    ]
    if not deny:
        p.append("no default-deny NetworkPolicy over app.kubernetes.io/name=chat")
    for w in workloads(docs):
        lbl = w["spec"]["template"]["metadata"].get("labels", {})
        if lbl.get("app.kubernetes.io/name") != "chat":
            continue
        own = [
            n for n in policies
            if n not in deny
            and all(lbl.get(k) == v for k, v in n["spec"]["podSelector"].get("matchLabels", {}).items())
            and (n["spec"].get("ingress") or n["spec"].get("egress"))
        ]
        if not own:
            p.append(f"{w['metadata']['name']}: no NetworkPolicy allows it anything (default deny)")
    report(f"{tag} network policies", p)

    # Secrets: placeholders only.
    p = []
    secrets = find(docs, "Secret")
    if overlay == "prod" and secrets:
        p.append("prod must not carry a Secret (it is created out of band)")
    for s in secrets:
        vals = s.get("stringData", {})
        if s.get("data"):
            p.append(f"Secret {s['metadata']['name']}: use stringData placeholders, not data")
        if overlay == "base":
            for k, v in vals.items():
                if "REPLACE_ME" not in v:
                    p.append(f"base Secret {k} is not a REPLACE_ME placeholder")
            if len(vals.get("CHAT_JWT_SECRET", "x" * 32)) >= 32:
                p.append("the base JWT placeholder must be < 32 bytes so a gateway refuses it")
        if overlay == "dev":
            jwt = vals.get("CHAT_JWT_SECRET", "")
            if "dev-only" not in jwt or len(jwt.encode()) < 32:
                p.append("dev JWT key must say dev-only and be >= 32 bytes (gateways refuse shorter)")
    report(f"{tag} secrets are placeholders", p)

    # The Kafka topics Job.
    p = []
    jobs = find(docs, "Job", "chat-kafka-topics")
    if not jobs:
        p.append("no Job chat-kafka-topics")
    roles_cm = {
        src["configMapRef"]["name"]
        for w in workloads(docs)
        if component(w) in ROLE_COMPONENTS
        for src in role_container(w).get("envFrom", [])
        if "configMapRef" in src
    }
    for j in jobs:
        c = pod_spec(j)["containers"][0]
        if not c["image"].startswith("apache/kafka:"):
            p.append("the Job must use Kafka's own CLI image")
        cms = {s["configMapRef"]["name"] for s in c.get("envFrom", []) if "configMapRef" in s}
        if cms != roles_cm:
            p.append(f"the Job reads {cms}, the roles {roles_cm}")
    for w in workloads(docs):
        if component(w) in ROLE_COMPONENTS:
            inits = [c["name"] for c in pod_spec(w).get("initContainers", [])]
            if "wait-for-topics" not in inits:
                p.append(f"{w['metadata']['name']}: no wait-for-topics init container")
    report(f"{tag} Kafka topics Job and waits", p)

    # The Grafana dashboards, for the sidecar: a labelled ConfigMap holding
    # every file of deploy/monitoring/dashboards as it is.
    p = []
    cms = [
        cm for cm in find(docs, "ConfigMap")
        if cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    held = {k: v for cm in cms for k, v in cm.get("data", {}).items()}
    for f in dashboard_files():
        if f.name not in held:
            p.append(f"{f.name} is in no ConfigMap labelled grafana_dashboard=1")
        elif json.loads(held[f.name]) != json.loads(f.read_text()):
            p.append(f"{f.name} differs from the file")
    for k in sorted(set(held) - {f.name for f in dashboard_files()}):
        p.append(f"{k} is not a file of deploy/monitoring/dashboards")
    for cm in cms:
        if cm["metadata"]["name"] != "chat-grafana-dashboards":
            p.append(f"{cm['metadata']['name']}: not chat-grafana-dashboards (a name hash keeps old copies)")
    report(f"{tag} Grafana dashboards ConfigMap (sidecar label)", p)


# ---------------------------------------------------------------- compose ----


def check_compose() -> None:
    path = ROOT / "deploy/compose/compose.yaml"
    doc = yaml.safe_load(path.read_text())
    svcs = doc["services"]
    p = []
    node_ids = {}
    for name, s in svcs.items():
        env = s.get("environment", {}) or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        for k in env:
            if k.startswith("CHAT_") and k not in ENVS and name != "kafka-topics":
                p.append(f"{name}: {k} unknown to the binary")
        cmd = s.get("command") or []
        role = cmd[0] if cmd and s.get("image", "").startswith("chat") else None
        if role == "gateway":
            node_ids.setdefault(env.get("CHAT_NODE_ID"), []).append(name)
            grace = s.get("stop_grace_period", "10s")
            secs = int(re.match(r"(\d+)s$", grace).group(1)) if re.match(r"\d+s$", grace) else 0
            if secs <= int(env.get("CHAT_DRAIN_SECS", "10")):
                p.append(f"{name}: stop_grace_period {grace} <= CHAT_DRAIN_SECS")
        if role in ROLE_COMPONENTS and "healthcheck" not in s:
            p.append(f"{name}: no healthcheck")
        for v in s.get("volumes", []) or []:
            src = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
            if src.startswith("."):
                if not (path.parent / src).exists():
                    p.append(f"{name}: mounted file {src} does not exist")
    for nid, names in node_ids.items():
        if nid is None or len(names) > 1:
            p.append(f"gateways {names} need distinct CHAT_NODE_ID (got {nid})")
    if not node_ids:
        p.append("no gateway")
    for role in ["writer", "fanout"]:
        if not any((s.get("command") or [None])[0] == role for s in svcs.values()):
            p.append(f"no {role}")
    for want in ["kafka", "redis"]:
        if want not in svcs:
            p.append(f"no {want}")
    if sum(1 for s in svcs.values() if str(s.get("image", "")).startswith("mariadb")) < 2:
        p.append("fewer than two MariaDB shards")
    report("compose roles, node ids, drain and keys", p)

    # Exposure: no public default secret; only gateways published, on
    # localhost unless CHAT_GATEWAY_BIND says otherwise.
    p = []
    for name, s in svcs.items():
        env = s.get("environment", {}) or {}
        secret = str(env.get("CHAT_JWT_SECRET", "")) if isinstance(env, dict) else ""
        if secret and not secret.startswith("${CHAT_JWT_SECRET:?"):
            p.append(f"{name}: CHAT_JWT_SECRET has a default ({secret}); require it with :?")
        cmd = s.get("command") or []
        for port in s.get("ports", []) or []:
            if cmd[:1] != ["gateway"] and name != "grafana":
                p.append(f"{name}: publishes {port} (only gateways and Grafana are published)")
            elif not str(port).startswith("${CHAT_GATEWAY_BIND:-127.0.0.1}:"):
                p.append(f"{name}: {port} is not bound to ${{CHAT_GATEWAY_BIND:-127.0.0.1}}")
    report("compose exposure: required secret, gateways and Grafana on localhost unless asked", p)

    # Monitoring: Prometheus scrapes every role and loads the alert rules;
    # Grafana is provisioned with it and with the dashboards.
    p = []

    def mounts(s) -> dict[Path, str]:
        out = {}
        for v in s.get("volumes", []) or []:
            if isinstance(v, str) and v.startswith("."):
                src, dst = v.split(":")[:2]
                out[(path.parent / src).resolve()] = dst
        return out

    prom = svcs.get("prometheus")
    graf = svcs.get("grafana")
    if not prom or not graf:
        p.append("no prometheus or grafana service")
    else:
        pm = mounts(prom)
        cfg_file = next((f for f, d in pm.items() if d == "/etc/prometheus/prometheus.yml"), None)
        if not cfg_file:
            p.append("prometheus: no configuration mounted at /etc/prometheus/prometheus.yml")
        else:
            cfg = yaml.safe_load(cfg_file.read_text())
            alerts = pm.get((ROOT / "deploy/monitoring/alerts.yaml").resolve())
            if not alerts or alerts not in cfg.get("rule_files", []):
                p.append("prometheus: deploy/monitoring/alerts.yaml is not mounted as a rule file")
            targets = {
                t for sc in cfg.get("scrape_configs", []) for st in sc.get("static_configs", [])
                for t in st.get("targets", [])
            }
            for name, s in svcs.items():
                cmd = s.get("command") or []
                role = cmd[0] if cmd and str(s.get("image", "")).startswith("chat") else None
                if role not in ROLE_COMPONENTS:
                    continue
                env = s.get("environment", {}) or {}
                listen = str(env.get("CHAT_LISTEN" if role == "gateway" else "CHAT_METRICS_LISTEN", ""))
                want = f"{name}:{listen.rsplit(':', 1)[-1]}"
                if want not in targets:
                    p.append(f"prometheus does not scrape {want} ({role})")
        gm = mounts(graf)
        dash = gm.get(DASHBOARDS.resolve())
        if not dash:
            p.append("grafana: deploy/monitoring/dashboards is not mounted")
        provs = {d: f for f, d in gm.items() if d.startswith("/etc/grafana/provisioning/")}
        paths = [
            pr.get("options", {}).get("path")
            for d, f in provs.items() if d.startswith("/etc/grafana/provisioning/dashboards/")
            for pr in yaml.safe_load(f.read_text()).get("providers", [])
        ]
        if dash and dash not in paths:
            p.append(f"grafana: no dashboard provider reads {dash}")
        sources = [
            ds
            for d, f in provs.items() if d.startswith("/etc/grafana/provisioning/datasources/")
            for ds in yaml.safe_load(f.read_text()).get("datasources", [])
        ]
        if not any(
            ds.get("type") == "prometheus" and re.match(r"https?://prometheus:9090/?$", ds.get("url", ""))
            for ds in sources
        ):
            p.append("grafana: no Prometheus data source on http://prometheus:9090")
    report("compose monitoring: Prometheus scrapes every role, Grafana has the dashboards", p)


# ------------------------------------------------------------- Dockerfile ----


def check_dockerfile() -> None:
    df = (ROOT / "deploy/docker/Dockerfile").read_text()
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    p = []
    copied = set(re.findall(r"^COPY (?!--from)(\S+) ", df, re.M))
    for member in cargo["workspace"]["members"]:
        top = member.split("/")[0]
        if top not in copied:
            p.append(f"workspace member {member} is not copied into the build stage")
    deps = (ROOT / "scripts/install-build-deps.sh").read_text()
    for pkg in re.findall(r"need\+=\(([\w.+-]+)\)", deps):
        if not re.search(rf"\b{re.escape(pkg)}(\s|$|\\)", df):
            p.append(f"build package {pkg} (scripts/install-build-deps.sh) missing")
    if "--features distributed" not in df:
        p.append("the binary must be built with --features distributed")
    stages = re.split(r"^FROM ", df, flags=re.M)
    runtime = stages[-1]
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    if not user or not user[-1].split(":")[0].isdigit() or user[-1].split(":")[0] == "0":
        p.append("the runtime stage must end with a numeric non-root USER")
    build = next((st for st in stages if "cargo build" in st), "")
    if not re.search(r"COPY --from=web-build \S+ (\S+)", build) or "CHAT_WEB_DIST=" not in build:
        p.append("the build stage must embed the web client (COPY --from=web-build, CHAT_WEB_DIST)")
    exposed = set(re.findall(r"\d+", " ".join(re.findall(r"^EXPOSE (.*)$", runtime, re.M))))
    if exposed != {str(GATEWAY_PORT), str(WORKER_PORT)}:
        p.append(f"EXPOSE {sorted(exposed)}, expected {GATEWAY_PORT} and {WORKER_PORT}")
    for var in re.findall(r"\b(CHAT_[A-Z_]+)=", runtime):
        if var not in ENVS:
            p.append(f"{var} unknown to the binary")
    ignore = (ROOT / "deploy/docker/Dockerfile.dockerignore").read_text().split()
    for must in ["target", "web/node_modules", "web/dist", ".git"]:
        if must not in ignore:
            p.append(f"Dockerfile.dockerignore must exclude {must}")
    report("Dockerfile stages, workspace members, build packages, user, ports", p)


# ------------------------------------------------------------------ docs -----


def check_docs() -> None:
    doc = ROOT / "docs/operations.md"
    if not doc.exists():
        report("docs/operations.md exists", ["missing"])
        return
    text = doc.read_text()
    readme = (ROOT / "README.md").read_text()
    p = []
    for flag, v in sorted(KEYS.items()):
        if f"`{flag}`" not in readme:
            p.append(f"flag {flag} ({v['struct']})")
        if v["env"] and f"`{v['env']}`" not in readme:
            p.append(f"variable {v['env']}")
    report("README.md's settings table names every flag and CHAT_* variable", p)

    p = [m for m in sorted(METRICS) if f"`{m}`" not in text]
    report("docs/operations.md names every metric", [f"metric {m}" for m in p])

    # Metric names quoted in the docs and in the alert rules exist in the code.
    p = []
    prefixes = ("gateway_", "writer_", "fanout_", "store_", "log_")
    quoted = set(re.findall(r"`((?:%s)[a-z0-9_]+)`" % "|".join(prefixes), text))
    rules = (ROOT / "deploy/monitoring/alerts.yaml").read_text()
    quoted |= set(re.findall(r"\b((?:%s)[a-z0-9_]+)\b" % "|".join(prefixes), rules))
    known = METRICS | {f"{m}_{s}" for m in METRICS for s in ("bucket", "sum", "count")}
    for m in sorted(quoted - known):
        p.append(f"{m} is not a metric of the code")
    report("metric names in the docs and alert rules exist in the code", p)

    p = []
    alerts = yaml.safe_load(rules)
    for g in alerts.get("groups", []):
        for r in g.get("rules", []):
            for k in ("alert", "expr", "labels", "annotations"):
                if k not in r:
                    p.append(f"rule {r.get('alert', '?')}: no {k}")
            try:
                promql_parser.parse(r.get("expr", ""))
            except Exception as e:  # the parser raises plain exceptions
                p.append(f"rule {r.get('alert', '?')}: PromQL does not parse: {e}")
    adapter = yaml.safe_load((ROOT / "deploy/monitoring/prometheus-adapter-rules.yaml").read_text())
    if "gateway_connections" not in yaml.safe_dump(adapter):
        p.append("the prometheus-adapter rules do not serve gateway_connections")
    report("alert rules and prometheus-adapter rules are well-formed", p)


# ------------------------------------------------------------- dashboards ----

# Grafana's variables, replaced before parsing: the interval ones by
# durations, any other by a name (they stand in label values).
GRAFANA_INTERVALS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def promql_metrics(expr: str) -> set[str | None]:
    """The metric names an expression reads (None: a selector naming none).
    Raises when the expression does not parse."""
    for var, value in GRAFANA_INTERVALS.items():
        expr = expr.replace(var, value)
    expr = re.sub(r"\$(?:\{[^}]*\}|\w+)", "var", expr)
    names: set[str | None] = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def metric_of(series: str) -> str | None:
    """The code's metric a series name belongs to (a histogram's
    `_bucket`, `_sum` and `_count` resolve to it)."""
    if series in METRICS:
        return series
    for suffix in ("_bucket", "_sum", "_count"):
        if series.endswith(suffix) and series.removesuffix(suffix) in HISTOGRAMS:
            return series.removesuffix(suffix)
    return None


def all_panels(panels: list[dict]):
    for pnl in panels:
        yield pnl
        yield from all_panels(pnl.get("panels", []))


def check_dashboards() -> None:
    files = dashboard_files()
    docs = (ROOT / "docs/operations.md").read_text()
    structure, names = [], []
    uids: dict[str, str] = {}
    if not files:
        structure.append("no dashboards in deploy/monitoring/dashboards")
    for f in files:
        try:
            d = json.loads(f.read_text())
        except ValueError as e:
            structure.append(f"{f.name}: not JSON: {e}")
            continue
        where = f.name
        for key in ("uid", "title", "schemaVersion", "panels", "templating"):
            if key not in d:
                structure.append(f"{where}: no {key}")
        uid = d.get("uid", "")
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
            structure.append(f"{where}: uid {uid!r} is not 1-40 letters, digits, - or _")
        if uid in uids:
            structure.append(f"{where}: uid {uid} also in {uids[uid]}")
        uids[uid] = f.name
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
            structure.append(f"{where}: schemaVersion {d.get('schemaVersion')} < 36")
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("datasource", {})
        if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            structure.append(f"{where}: no `datasource` variable of Prometheus data sources")
        ids = []
        for pnl in all_panels(d.get("panels", [])):
            title = pnl.get("title", "")
            at = f"{where}: panel {title!r}"
            ids.append(pnl.get("id"))
            g = pnl.get("gridPos", {})
            if not title or not pnl.get("type"):
                structure.append(f"{at}: no title or type")
            if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
                structure.append(f"{at}: gridPos {g} is not within 24 columns")
            if pnl.get("type") in ("row", "text"):
                continue
            targets = pnl.get("targets", [])
            if not targets:
                structure.append(f"{at}: no targets")
            if pnl.get("datasource", {}).get("uid") != "${datasource}":
                structure.append(f"{at}: datasource is not ${{datasource}}")
            refs = [t.get("refId") for t in targets]
            if len(set(refs)) != len(refs) or None in refs:
                structure.append(f"{at}: refIds {refs} not unique")
            for t in targets:
                if t.get("datasource", {}).get("uid", "${datasource}") != "${datasource}":
                    structure.append(f"{at}: a target's datasource is not ${{datasource}}")
                expr = t.get("expr", "")
                try:
                    used = promql_metrics(expr)
                except Exception as e:  # the parser raises plain exceptions
                    names.append(f"{at}: PromQL does not parse: {e}")
                    continue
                for m in sorted(used, key=str):
                    metric = metric_of(m) if m else None
                    if m is None:
                        names.append(f"{at}: a selector names no metric ({expr})")
                    elif metric is None:
                        names.append(f"{at}: {m} is not a metric of the code")
                    elif f"`{metric}`" not in docs:
                        names.append(f"{at}: {metric} is not in docs/operations.md")
        if len(set(ids)) != len(ids) or not all(isinstance(i, int) for i in ids):
            structure.append(f"{where}: panel ids are not unique integers")
    report("Grafana dashboards are well-formed (uid, title, datasource variable, panels, targets)", structure)
    report("Grafana dashboards' PromQL parses and reads metrics of the code and the docs", names)

    # The alert rules, by the same parser: every selector a metric of the code.
    p = []
    rules = yaml.safe_load((ROOT / "deploy/monitoring/alerts.yaml").read_text())
    for g in rules.get("groups", []):
        for r in g.get("rules", []):
            try:
                used = promql_metrics(r.get("expr", ""))
            except Exception:  # reported by check_docs
                continue
            for m in sorted(used, key=str):
                if m is None or metric_of(m) is None:
                    p.append(f"rule {r.get('alert', '?')}: {m} is not a metric of the code")
    report("alert rules read metrics of the code (parsed)", p)


def main() -> None:
    for o in OVERLAYS:
        check_overlay(o)
    check_compose()
    check_dockerfile()
    check_docs()
    check_dashboards()


main()
