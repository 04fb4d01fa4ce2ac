#!/usr/bin/env python3
"""Turns the JSON results of loadtest/bench.sh into report.md and PNG plots.

    report.py DIR

DIR holds meta.json, <mode>-<scenario>-<rate>.json (loadtest run --json) and
<mode>-idle-<n>.json (loadtest idle --json). Plots need matplotlib; without it
the report has the tables only.
"""

import glob
import json
import os
import re
import sys

# The targets (this 2-core machine, server and generator on one box).
SA_MSGS, SA_DELIVERIES, SA_P99 = 20_000, 200_000, 50.0
DIST_MSGS, DIST_P99 = 5_000, 100.0
IDLE_CONNS, IDLE_KIB = 50_000, 16.0


def load(out):
    runs, idles = [], []
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        name = os.path.basename(path)
        m = re.fullmatch(r"(standalone|distributed)-(idle)-(\d+)\.json", name)
        if m:
            with open(path) as f:
                idles.append((m.group(1), json.load(f)))
            continue
        m = re.fullmatch(r"(standalone|distributed)-(\w+)-(\d+)\.json", name)
        if m:
            with open(path) as f:
                r = json.load(f)
            r["_mode"], r["_scenario"] = m.group(1), m.group(2)
            runs.append(r)
    runs.sort(key=lambda r: (r["_mode"], r["_scenario"], r["offered_per_sec"]))
    return runs, idles


def load_text(r):
    la = r.get("load_average")
    return f"{la[0]:.1f}" if la else "?"


def errors_text(e):
    return ", ".join(f"{k} {v}" for k, v in sorted(e.items())) or "none"


def healthy(r, p99):
    """Kept up: accepted ≥ 99% of offered, p99 under the bound, correct."""
    return (
        r["passed"]
        and r["accepted_per_sec"] >= 0.99 * r["offered_per_sec"]
        and r["delivery_latency"]["p99_ms"] < p99
    )


def best(runs, mode, scenario, p99):
    ok = [r for r in runs if r["_mode"] == mode and r["_scenario"] == scenario and healthy(r, p99)]
    return max(ok, key=lambda r: r["accepted_per_sec"]) if ok else None


def shortfall(runs, mode, p99_bound, msgs_target):
    """What the runs of a mode reached when none met the bound."""
    rs = [r for r in runs if r["_mode"] == mode and r["_scenario"] == "groups"]
    top = max(rs, key=lambda r: r["accepted_per_sec"])
    low = min(rs, key=lambda r: r["offered_per_sec"])
    return (
        f"not met at any rate tried: at the lowest, {low['offered_per_sec']:.0f} msgs/s, p99 was "
        f"{low['delivery_latency']['p99_ms']:.1f} ms (bound {p99_bound:.0f} ms); the most accepted was "
        f"{top['accepted_per_sec']:.0f} msgs/s ({top['accepted_per_sec'] / msgs_target:.0%} of the target) "
        f"with {top['deliveries_per_sec']:.0f} deliveries/s, at p99 {top['delivery_latency']['p99_ms']:.0f} ms"
    )


def targets(runs, idles, meta):
    rows = []
    tried = [r for r in runs if r["_mode"] == "standalone" and r["_scenario"] == "groups"]
    if tried:
        b = best(runs, "standalone", "groups", SA_P99)
        if b:
            met = b["accepted_per_sec"] >= SA_MSGS and b["deliveries_per_sec"] >= SA_DELIVERIES
            v = (
                f"{b['accepted_per_sec']:.0f} msgs/s, {b['deliveries_per_sec']:.0f} deliveries/s at p99 "
                f"{b['delivery_latency']['p99_ms']:.1f} ms"
            )
            if not met:
                v += f" ({b['accepted_per_sec'] / SA_MSGS:.0%} of the message target)"
        else:
            met, v = False, shortfall(runs, "standalone", SA_P99, SA_MSGS)
        rows.append(("Standalone: ≥ 20,000 msgs/s and ≥ 200,000 deliveries/s (groups of 10), p99 send→delivery < 50 ms", v, met))
    tried = [r for r in runs if r["_mode"] == "distributed" and r["_scenario"] == "groups"]
    if tried:
        b = best(runs, "distributed", "groups", DIST_P99)
        if b:
            met = b["accepted_per_sec"] >= DIST_MSGS
            v = f"{b['accepted_per_sec']:.0f} msgs/s at p99 {b['delivery_latency']['p99_ms']:.1f} ms"
            if not met:
                v += f" ({b['accepted_per_sec'] / DIST_MSGS:.0%} of the target)"
        else:
            met, v = False, shortfall(runs, "distributed", DIST_P99, DIST_MSGS)
        rows.append(("Distributed: ≥ 5,000 msgs/s, p99 send→delivery < 100 ms", v, met))
    for mode, i in idles:
        kib = i["server_bytes_per_connection"] / 1024
        met = i["open"] >= IDLE_CONNS and kib < IDLE_KIB
        v = f"{i['open']} connections at {kib:.1f} KiB each"
        if i["open"] < IDLE_CONNS:
            v += f" ({'under' if kib < IDLE_KIB else 'over'} 16 KiB; 50,000 not tried: the file-descriptor limit is {meta.get('fd_limit', 'below 50,000')})"
        rows.append((f"{mode}: ≥ 50,000 idle connections on one gateway at < 16 KiB each", v, met))
    return rows


def plots(out, runs):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots", file=sys.stderr)
        return []
    made = []
    for mode in ("standalone", "distributed"):
        rs = [r for r in runs if r["_mode"] == mode and r["_scenario"] == "groups"]
        if not rs:
            continue
        x = [r["offered_per_sec"] for r in rs]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label in (("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99"), ("p999_ms", "p99.9"), ("max_ms", "max")):
            ax.plot(x, [max(r["delivery_latency"][key], 0.01) for r in rs], marker="o", label=f"delivery {label}")
        ax.plot(x, [max(r["ack_latency"]["p99_ms"], 0.01) for r in rs], marker="x", linestyle="--", label="ack p99")
        bound = SA_P99 if mode == "standalone" else DIST_P99
        ax.axhline(bound, color="grey", linestyle=":", label=f"target p99 {bound:.0f} ms")
        ax.set_yscale("log")
        ax.set_xlabel("offered messages/s")
        ax.set_ylabel("send→delivery latency (ms, from the due time)")
        ax.set_title(f"{mode}: latency vs offered rate (groups of 10)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        name = f"latency-{mode}.png"
        fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=110)
        plt.close(fig)
        made.append((f"{mode}: latency percentiles vs offered rate", name))

        fig, ax1 = plt.subplots(figsize=(7, 4.5))
        ax1.plot(x, [r["deliveries_per_sec"] for r in rs], marker="o", color="tab:blue", label="deliveries/s")
        ax1.set_xlabel("offered messages/s")
        ax1.set_ylabel("deliveries/s", color="tab:blue")
        ax2 = ax1.twinx()
        ax2.plot(x, [r["accepted_per_sec"] for r in rs], marker="s", color="tab:orange", label="accepted msgs/s")
        ax2.plot(x, x, linestyle=":", color="grey", label="offered")
        ax2.set_ylabel("messages/s", color="tab:orange")
        ax1.set_title(f"{mode}: throughput vs offered rate")
        ax1.grid(True, alpha=0.3)
        lines = ax1.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        labels = ax1.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
        ax1.legend(lines, labels, fontsize=8, loc="upper left")
        name = f"throughput-{mode}.png"
        fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=110)
        plt.close(fig)
        made.append((f"{mode}: deliveries/s and accepted msgs/s vs offered rate", name))
    return made


def main():
    out = sys.argv[1]
    meta = {}
    if os.path.exists(os.path.join(out, "meta.json")):
        with open(os.path.join(out, "meta.json")) as f:
            meta = json.load(f)
    runs, idles = load(out)
    pngs = plots(out, runs)
    L = []
    L.append(f"# Load test report {meta.get('date', '')[:10]}\n")
    L.append(
        f"Machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu', '?')}), {meta.get('memory_gib', '?')} GiB; "
        "server and generator on the same machine. "
        f"Each run: {meta.get('duration', '?')} s of open-loop sending with {meta.get('ramp', '?')} s of ramp-up; "
        "latency and throughput are measured after the ramp, latency from the time each message was due. "
        "Produced by `loadtest/bench.sh`.\n"
    )
    L.append("## Targets\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for t, v, met in targets(runs, idles, meta):
        L.append(f"| {t} | {v} | {'yes' if met else '**no**'} |")
    L.append("")
    L.append("## Runs\n")
    L.append(
        "Scenarios: `groups`: every chat a group of "
        f"{meta.get('group_size', 10)}, {meta.get('users', '?')} users each on one connection; "
        "`mixed`: half direct chats, half groups of 3, 10 and 50. "
        "`unsent`: messages still waiting in the generator when sending ended (the server was behind); "
        "`load`: the machine's 1-minute load average at the end of sending (2 cores: above 2, "
        "work is waiting for a CPU).\n"
    )
    L.append(
        "| mode | scenario | offered msgs/s | accepted msgs/s | deliveries/s | delivery p50 / p90 / p99 / p99.9 / max (ms) "
        "| ack p50 / p99 (ms) | unsent | errors | missing / dup / out of order | load | result |"
    )
    L.append("|---|---|---:|---:|---:|---|---|---:|---|---|---:|---|")
    for r in runs:
        d, a, c = r["delivery_latency"], r["ack_latency"], r["correctness"]
        L.append(
            f"| {r['_mode']} | {r['_scenario']} | {r['offered_per_sec']:.0f} | {r['accepted_per_sec']:.0f} "
            f"| {r['deliveries_per_sec']:.0f} "
            f"| {d['p50_ms']:.1f} / {d['p90_ms']:.1f} / {d['p99_ms']:.1f} / {d['p999_ms']:.1f} / {d['max_ms']:.1f} "
            f"| {a['p50_ms']:.1f} / {a['p99_ms']:.1f} | {r['unsent']} | {errors_text(r['errors'])} "
            f"| {c['missing']} / {c['duplicated']} / {c['out_of_order']} | {load_text(r)} | {'pass' if r['passed'] else '**FAIL**'} |"
        )
    L.append("")
    if idles:
        L.append("## Idle connections\n")
        L.append("| mode | connections open | server RSS before → after (MiB) | server KiB per connection | generator KiB per connection | failures |")
        L.append("|---|---:|---|---:|---:|---|")
        for mode, i in idles:
            mib = lambda b: b / 1048576
            L.append(
                f"| {mode} | {i['open']} | {mib(i['server_rss_before']):.1f} → {mib(i['server_rss_after']):.1f} "
                f"| {i['server_bytes_per_connection'] / 1024:.1f} | {i['client_bytes_per_connection'] / 1024:.1f} "
                f"| {errors_text(i['errors'])} |"
            )
        L.append("")
    notes = os.path.join(out, "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            L.append(f.read().rstrip() + "\n")
    if pngs:
        L.append("## Plots\n")
        for title, name in pngs:
            L.append(f"![{title}]({name})\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
