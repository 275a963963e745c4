#!/usr/bin/env python3
"""bench_report.py — turns the JSON of `make bench` (build/bench/*.json, one
file per `bsec bench … --json` part) into PNG plots (gnuplot) and the report
docs/benchmarks.md: every figure beside the paper's, the targets met or
missed with the measured numbers, the machine and how busy it was.

  scripts/bench_report.py --out build/bench --doc docs/benchmarks.md --img docs/img

Parts that are missing (failed, or skipped like the WAN profile without
root) are reported as such; nothing here measures anything."""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

PAPER = {"request": 637, "response": 655, "empty_block": 859, "overhead_ms": 60.0, "overhead_pct": 3.0,
         "vnf_s": 30.1, "consensus_n9_s": 20.0, "tx_per_s": 803.3, "growth_bps": 100e3, "txs_per_block": 3808}


def load(out, name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, digits=0, unit=""):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "–"
    if digits == 0:
        s = f"{v:,.0f}".replace(",", " ")
    else:
        s = f"{v:,.{digits}f}".replace(",", " ")
    return s + unit


def ok(b):
    return "**met**" if b else "**missed**"


class Plotter:
    """Writes a .dat and a gnuplot script per plot and renders it."""

    def __init__(self, out, img):
        self.dir = os.path.join(out, "plot")
        self.img = img
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(img, exist_ok=True)
        self.have = shutil.which("gnuplot") is not None
        self.made = []

    def dat(self, name, blocks):
        """blocks: list of (title, rows); gnuplot index i = blocks[i]."""
        p = os.path.join(self.dir, name + ".dat")
        with open(p, "w") as f:
            for title, rows in blocks:
                f.write(f"# {title}\n")
                for r in rows:
                    f.write(" ".join(str(x) for x in r) + "\n")
                f.write("\n\n")
        return p

    def plot(self, name, body, size="820,480"):
        if not self.have:
            return None
        png = os.path.join(self.img, name + ".png")
        gp = os.path.join(self.dir, name + ".gp")
        with open(gp, "w") as f:
            f.write(f"set terminal pngcairo size {size} font 'DejaVu Sans,10'\n")
            f.write(f"set output '{png}'\n")
            f.write("set grid lc rgb '#dddddd'\nset key top left\n")
            f.write(body)
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(f"gnuplot {gp}: {r.stderr}\n")
            return None
        self.made.append(png)
        return png


def rel(doc, png):
    return os.path.relpath(png, os.path.dirname(os.path.abspath(doc)) or ".")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("--doc", default="docs/benchmarks.md")
    ap.add_argument("--img", default="docs/img")
    a = ap.parse_args()
    out, doc, img = a.out, a.doc, a.img
    P = Plotter(out, img)
    m = load(out, "machine") or {}
    runs = []
    try:
        with open(os.path.join(out, "runs.jsonl")) as f:
            runs = [json.loads(l) for l in f if l.strip()]
    except OSError:
        pass
    sizes, verify = load(out, "sizes"), load(out, "verify")
    ov = {n: load(out, f"overhead-n{n}") for n in (1, 4)}
    sfc = load(out, "sfc")
    thr = {"ed25519": load(out, "throughput-ed25519"), "rsa-pss-2048": load(out, "throughput-rsa")}
    growth, vc, cu, wan = load(out, "growth"), load(out, "viewchange"), load(out, "catchup"), load(out, "wan")
    cus = load(out, "catchup-short")
    cscale = load(out, "cpu-scaling")
    rsa_n4 = load(out, "rsa-n4")
    au = load(out, "audit")
    olo = load(out, "overload")
    md = []
    w = md.append
    targets = []   # (what, target, measured, met or None)
    paper_rows = []  # (figure, paper, ours, ratio text)

    quick = m.get("quick")
    w("# Benchmarks\n")
    w("Every number on this page comes from one command: `make bench` runs the whole suite "
      "(`scripts/bench.sh`: each part is a `bsec bench …` command that also runs alone and prints JSON "
      "with `--json`), keeps the raw results in `build/bench/*.json`, draws the plots with gnuplot and "
      "rewrites this page (`scripts/bench_report.py`). `make bench QUICK=1` runs small sizes in a few "
      "minutes and writes its report to `build/bench/benchmarks.md` instead, leaving this page alone.\n")
    if quick:
        w("> **This is a QUICK run** (small sizes, short runs): for a smoke check, not for quoting.\n")
    w("## The machine\n")
    la0 = " ".join(m.get("loadavg_start", []))
    w(f"{m.get('cores', '?')} cores, {m.get('mem_gib', '?')} GiB RAM, {m.get('cpu_model', '?')}; "
      f"{m.get('os', '?')}, Linux {m.get('kernel', '?')}; run on {m.get('started', m.get('date', '?'))} "
      f"in {fmt((m.get('total_s') or 0) / 60, 1)} min{' as root' if m.get('root') else ''}"
      + (f", code at commit `{m['commit']}`" if m.get("commit") else "") + "."
      + (f" The disk under `/tmp` (where the devnets live) does a 4 KiB write + fsync in {fmt(m['fsync_ms']['p50'], 2)} ms "
         f"median, {fmt(m['fsync_ms']['p99'], 1)} ms p99." if m.get("fsync_ms") else "") + "\n")
    others = []
    for t in thr.values():
        for p in (t or {}).get("points", []):
            if p.get("other_cpu_cores") is not None:
                others.append(p["other_cpu_cores"])
    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    w("**Noise.** This is a shared cloud VM: other people's builds and tests ran during the benchmark. "
      f"The load average was {la0} at the start"
      + (f" and ranged {fmt(min(loads), 1)}–{fmt(max(loads), 1)} between parts" if loads else "")
      + (f"; during the saturation runs, processes other than the nodes and the load generator kept "
         f"{fmt(sorted(others)[len(others) // 2], 2)} cores busy on the median run (max {fmt(max(others), 2)}) "
         f"of the {m.get('cores', '?')}" if others else "")
      + ". Each throughput point is one short run, so treat single points as ±20 %; the scripts measure "
      "the same things in the same order every time, and each JSON result records `other_cpu_cores` so "
      "a noisy point can be recognised.\n")
    if runs:
        w("<details><summary>Parts and their wall time</summary>\n\n| part | command | s | load before → after |\n|---|---|---|---|")
        for r in runs:
            w(f"| {r['name']} | `bsec bench {r['args']}` | {r['seconds']:.0f} | {r['load_before']:.1f} → "
              f"{r['load_after']:.1f}{'' if r['exit'] == 0 else ' (FAILED)'} |")
        w("\n</details>\n")

    # ---------------------------------------------------------------- (a)
    w("## (a) Overhead of one SFC creation — `bsec bench overhead`\n")
    w("Paper, Fig. 6(a): the blockchain adds **0.06 s, 3 %** to an orchestration request. Here the demo "
      "tenant creates two forwarder VNFs in two domains and then an SFC through them, K times, on a fresh "
      "devnet with orchestrators. Measured per SFC request: submission → the orchestrator's signed response "
      "committed, minus the time the driver itself took inside the orchestrator (the driver reports it in "
      "the response), i.e. a paired difference; mean with a 95 % confidence interval as in the paper. "
      "The same operation called directly on the driver is shown for scale.\n")
    rows = [o for o in ov.values() if o]
    if rows:
        w("| n | driver | K | through BSec (median) | driver alone (direct, median) | overhead (mean ± 95 % CI) | "
          "overhead median | share of the operation | paper |\n|---|---|---|---|---|---|---|---|---|")
        for o in rows:
            w(f"| {o['nodes']} | {o['driver']} | {o['count']} | {fmt(o['sfc_create_ms'], 1)} ms | "
              f"{fmt(o['direct_sfc_create_ms'], 1)} ms | **{fmt(o['overhead_ms'], 1)} ± {fmt(o['overhead_ci95_ms'], 1)} ms** | "
              f"{fmt(o['overhead_median_ms'], 1)} ms | {fmt(o['overhead_pct'], 0)} % | 60 ms, 3 % |")
            paper_rows.append((f"(a) overhead per SFC request, n = {o['nodes']}", "60 ms",
                               f"{fmt(o['overhead_ms'], 1)} ms", f"{fmt(o['overhead_ms'] / 60.0, 2)} ×"))
        d = rows[0]["driver"]
        w(f"\nThe `{d}` driver {'builds a real data plane (network namespaces, veth links, routes)' if d == 'netns' else 'is simulated (every result says so)'}; "
          "its operations take tens of milliseconds where OPNFV's took seconds, which is why the *share* is "
          "large even though the absolute overhead is about the paper's or lower. The overhead is two commits "
          "(the request, then the response) plus the orchestrator noticing the request through a long poll.\n")
        bars = P.dat("overhead", [("overhead", [(f"\"n={o['nodes']}\"", o["overhead_ms"], o["overhead_ci95_ms"] or 0,
                                                  o["driver_in_orchestrator_ms_mean"] or 0) for o in rows]
                                   + [("\"paper\"", 60, 0, 0)])])
        png = P.plot("overhead", f"""set title 'Overhead of one SFC-create request (paired, mean and 95 % CI)'
set ylabel 'ms'
set style fill solid 0.6
set boxwidth 0.5
set yrange [0:*]
set offsets 0.3, 0.3, graph 0.12, 0
unset key
plot '{bars}' using 0:2:xtic(1) with boxes lc rgb '#4477aa', '' using 0:2:3 with yerrorbars lc rgb 'black' pt 0
""", size="600,400")
        if png:
            w(f"![overhead]({rel(doc, png)})\n")
    else:
        w("*Not measured in this run.*\n")

    # ---------------------------------------------------------------- (b)
    w("## (b) SFC creation time vs number of VNFs — `bsec bench sfc`\n")
    w("Paper, Fig. 6(b): OPNFV created each VNF from an image in **30.1 s** on average, one after the other, "
      "then chained them; PBFT added **up to 20 s at n = 9**.\n")
    if sfc:
        sc = sfc["time_scale"]
        w(f"Here the `sim` driver's `vnf:create` takes the paper's {sfc['vnf_ms']} ms **× time scale {sc}** "
          f"= {fmt(sfc['vnf_ms_scaled'], 0)} ms, so that 45 VNF creations per n take seconds, not half an hour. "
          "Only the driver's sleep is scaled, never BSec's work, so the creation time at the paper's scale is "
          "the driver time ÷ scale + the measured overhead (through BSec − the same operations on the bare "
          "driver). The tenant creates K VNFs through BSec one by one (each a request, committed, executed, "
          "its response committed), then the SFC.\n")
        pts = sfc["points"]
        ns = sorted({p["nodes"] for p in pts})
        ks = sorted({p["vnfs"] for p in pts})
        w("Overhead of the whole creation (ms) — what BSec adds, not scaled:\n")
        w("| K | " + " | ".join(f"n = {n}" for n in ns) + " |\n|---|" + "---|" * len(ns))
        for k in ks:
            w(f"| {k} | " + " | ".join(fmt(next((p["overhead_ms"] for p in pts if p["nodes"] == n and p["vnfs"] == k), None), 0)
                                       for n in ns) + " |")
        worst = max(pts, key=lambda p: p["overhead_ms"])
        w(f"\nCreation time at the paper's scale for K = {max(ks)}: " + ", ".join(
            f"n = {n}: {fmt(next(p['creation_s_at_paper_scale'] for p in pts if p['nodes'] == n and p['vnfs'] == max(ks)), 1)} s"
            for n in ns) + f" (paper: {max(ks)} × 30.1 s = {max(ks) * 30.1:.1f} s plus up to 20 s of consensus at n = 9). "
          f"The largest overhead measured is {fmt(worst['overhead_ms'] / 1000, 2)} s (n = {worst['nodes']}, K = {worst['vnfs']}), "
          f"{fmt(20.0 / max(worst['overhead_ms'] / 1000, 1e-9), 0)} × less than the paper's 20 s.\n")
        big = [p for p in pts if p["vnfs"] == max(ks)]
        for p in big:
            paper_rows.append((f"(b) consensus delay in a {p['vnfs']}-VNF SFC, n = {p['nodes']}", "≤ 20 s (n = 9)",
                               f"{fmt(p['overhead_ms'] / 1000, 2)} s", f"{fmt(p['overhead_ms'] / 20000, 3)} ×"))
        d1 = P.dat("sfc", [(f"n={n}", [(p["vnfs"], p["creation_s_at_paper_scale"], p["overhead_ms"] / 1000)
                                       for p in pts if p["nodes"] == n]) for n in ns])
        lines = ", ".join(f"'{d1}' index {i} using 1:2 with linespoints title 'BSec n={n}'" for i, n in enumerate(ns))
        png = P.plot("sfc_creation", f"""set title "SFC creation time at the paper's 30.1 s per VNF"
set xlabel 'VNFs in the chain (K)'
set ylabel 's'
set xrange [0.5:{max(ks) + 0.5}]
plot {lines}, x*30.1 with lines dt 2 lc rgb 'gray' title 'K x 30.1 s (platform only)', x*30.1+20 with lines dt 3 lc rgb 'red' title 'paper: + up to 20 s (n=9)'
""")
        if png:
            w(f"![sfc creation]({rel(doc, png)})\n")
        lines = ", ".join(f"'{d1}' index {i} using 1:($3*1000) with linespoints title 'n={n}'" for i, n in enumerate(ns))
        png = P.plot("sfc_overhead", f"""set title 'What BSec adds to an SFC creation (not scaled)'
set xlabel 'VNFs in the chain (K)'
set ylabel 'ms'
set xrange [0.5:{max(ks) + 0.5}]
set yrange [0:*]
plot {lines}
""")
        if png:
            w(f"![sfc overhead]({rel(doc, png)})\n")
    else:
        w("*Not measured in this run.*\n")

    # ---------------------------------------------------------------- (c) + (e)
    w("## (c) Throughput vs n and instruction size — `bsec bench throughput`\n")
    w("Paper, Fig. 6(c): **803.3 tx/s** at best (RSA-2048, JSON, Python), stable up to 64-byte instructions. "
      "Here, per n a fresh devnet (no orchestrators, so requests stay unanswered, as in the paper's "
      "experiment), and per instruction size one saturation run on an empty ledger (the nodes are restarted "
      "with their ledgers deleted between sizes): the generator pre-signs every tx before the clock starts "
      "and keeps up to 16 384 accepted-but-uncommitted txs in the system (eight full blocks), posting "
      "batches of 64 over 8 keep-alive HTTPS connections spread over the nodes. The figure is the **steady "
      "commit rate at node 0 while the load was offered**, after the start-up (from a quarter of the run, or "
      "from the first real commits if later, to the end of offering; at least three block commits); when a "
      "run never reached a steady window the rate over the whole offering is shown instead (`rate_kind` in "
      "the JSON). The ceiling is cores × single-core verify/s ÷ n, measured in the same run (every replica "
      "verifies every tx), at the rate of the batched verification a node uses (`sig_verify_many`: 64 "
      "signatures of 8 keys per call); the row below it gives the ceiling at the one-by-one rate, which "
      "earlier reports used and which batching lets the nodes pass.\n")
    for scheme, t in thr.items():
        if not t:
            w(f"*{scheme}: not measured in this run.*\n")
            continue
        pts = t["points"]
        ns = sorted({p["nodes"] for p in pts})
        szs = sorted({p["instruction_bytes"] for p in pts})
        bv = t.get("batch_verify_per_s_one_core")
        offs = sorted(p["offer_s"] for p in pts if p.get("offer_s"))
        wins = sorted(p["steady_window_s"] for p in pts if p.get("steady_window_s"))
        span = ""
        if offs:
            span = (f"; load offered for {fmt(offs[0], 1)} – {fmt(offs[-1], 1)} s, as far as the pre-signed txs "
                    "went" + (f", steady windows {fmt(wins[0], 1)} – {fmt(wins[-1], 1)} s" if wins else ""))
        w(f"**{scheme}** — committed tx/s (runs of {fmt(t['seconds'], 0)} s requested{span}; single-core verify "
          f"{fmt(t['verify_per_s_one_core'])}/s one at a time" + (f", {fmt(bv)}/s in the batches a node checks"
                                                                  if bv else "") + "):\n")
        w("| instruction B | tx B | " + " | ".join(f"n = {n}" for n in ns) + " |\n|---|---|" + "---|" * len(ns))
        for s in szs:
            row = [p for p in pts if p["instruction_bytes"] == s]
            txb = row[0]["avg_tx_bytes"] if row else "?"
            w(f"| {s} | {txb} | " + " | ".join(
                fmt(next((p["tx_per_s"] for p in row if p["nodes"] == n), None)) for n in ns) + " |")
        w("| ceiling | | " + " | ".join(fmt(next((p["ceiling_tx_per_s"] for p in pts if p["nodes"] == n), None))
                                       for n in ns) + " |")
        if any(p.get("ceiling_one_by_one_tx_per_s") for p in pts):
            w("| ceiling, one by one | | " + " | ".join(
                fmt(next((p.get("ceiling_one_by_one_tx_per_s") for p in pts if p["nodes"] == n), None)) for n in ns) + " |")
        w("")
        best = max(pts, key=lambda p: p["tx_per_s"])
        paper_rows.append((f"(c) peak throughput, {scheme}", "803.3 tx/s",
                           f"{fmt(best['tx_per_s'])} tx/s (n = {best['nodes']}, {best['instruction_bytes']} B)",
                           f"{fmt(best['tx_per_s'] / PAPER['tx_per_s'], 1)} ×"))
        n4 = next((p for p in pts if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
        if n4 and scheme == "ed25519":
            c = n4["ceiling_tx_per_s"]
            c1 = n4.get("ceiling_one_by_one_tx_per_s")
            targets.append(("ed25519, 64 B, n = 4: committed tx/s ≥ 0.7 × ceiling (batched verification)",
                            f"≥ {fmt(0.7 * c)} (ceiling {fmt(c)})",
                            f"{fmt(n4['tx_per_s'])} = {fmt(n4['ratio_to_ceiling'], 2)} × ceiling"
                            + (f" ({fmt(n4['tx_per_s'] / c1, 2)} × the one-by-one ceiling {fmt(c1)})" if c1 else ""),
                            n4["tx_per_s"] >= 0.7 * c))
            targets.append(("ed25519, 64 B, n = 4: ≥ 8 × 803 tx/s", "≥ 6 426 tx/s",
                            f"{fmt(n4['tx_per_s'])} = {fmt(n4['tx_per_s'] / 803.3, 1)} × 803", n4["tx_per_s"] >= 8 * 803.3))
        if n4 and scheme == "rsa-pss-2048":
            runs = [p["tx_per_s"] for p in (rsa_n4 or {}).get("points", []) if p.get("tx_per_s")]
            if runs:
                # bench.sh rsa-n4: more n = 4 runs; the median of them and the sweep's
                allr = sorted(runs + [n4["tx_per_s"]])
                m = (allr[len(allr) // 2 - 1] + allr[len(allr) // 2]) / 2 if len(allr) % 2 == 0 else allr[len(allr) // 2]
                w(f"\nrsa-pss-2048 at n = 4, 64 B, in {len(allr)} saturation runs (the sweep's and {len(runs)} more, "
                  "fresh devnets each): " + ", ".join(fmt(v) for v in allr) + f" tx/s; median {fmt(m)}.\n")
                targets.append(("rsa-pss-2048, 64 B, n = 4", "≥ 15 000 tx/s",
                                f"{fmt(m)} tx/s (median of {len(allr)} runs, {fmt(allr[0])} – {fmt(allr[-1])})",
                                m >= 15000))
            else:
                targets.append(("rsa-pss-2048, 64 B, n = 4", "≥ 15 000 tx/s", f"{fmt(n4['tx_per_s'])} tx/s",
                                n4["tx_per_s"] >= 15000))
        d1 = P.dat(f"throughput_{scheme}", [(f"n={n}", [(p["instruction_bytes"], p["tx_per_s"])
                                                        for p in pts if p["nodes"] == n]) for n in ns])
        lines = ", ".join(f"'{d1}' index {i} using 1:2 with linespoints title 'n={n}'" for i, n in enumerate(ns))
        png = P.plot(f"throughput_{scheme}", f"""set title 'Committed tx/s vs instruction size, {scheme}'
set xlabel 'instruction bytes'
set ylabel 'tx/s'
set logscale x 2
set yrange [0:*]
set key top right
plot {lines}, 803.3 with lines dt 2 lc rgb 'red' title 'paper peak 803.3 tx/s'
""")
        if png:
            w(f"![throughput {scheme}]({rel(doc, png)})\n")
        # who set the pace
        gb = [p for p in pts if p.get("generator_bound")]
        w(f"Bottleneck: in {len(pts) - len(gb)} of {len(pts)} runs the nodes, not the generator, set the pace "
          "(the generator's window of uncommitted txs stayed full, i.e. the nodes accepted txs faster than they "
          "committed them)" + (f"; in {len(gb)} the nodes kept up with everything offered: "
                               + "; ".join(f"n = {p['nodes']}, {p['instruction_bytes']} B" for p in gb) if gb else "")
          + f". The generator used {fmt(sum(p['generator_cpu_s'] for p in pts) / max(sum(p['elapsed_s'] for p in pts), 1e-9), 2)} "
          "cores on average while offering.\n")
    # txs per block at saturation
    t = thr.get("ed25519")
    if t:
        pts = t["points"]
        w("### (e) Transactions per block at saturation\n")
        w("Paper: **3 808** txs per block at the maximum throughput. Here a block is bounded to 2 048 txs and "
          "4 MiB by the devnet genesis (`max_block_txs`), and the leader proposes as soon as txs are pending and "
          "its pipeline of 4 uncommitted heights has room, so blocks are as large as the backlog: mean (max) txs "
          "per block in the saturation runs above, ed25519:\n")
        ns = sorted({p["nodes"] for p in pts})
        szs = sorted({p["instruction_bytes"] for p in pts})
        w("| instruction B | " + " | ".join(f"n = {n}" for n in ns) + " |\n|---|" + "---|" * len(ns))
        for s in szs:
            w(f"| {s} | " + " | ".join(
                (lambda p: f"{fmt(p['txs_per_block_mean'])} ({fmt(p['txs_per_block_max'])})" if p else "–")(
                    next((p for p in pts if p["nodes"] == n and p["instruction_bytes"] == s), None)) for n in ns) + " |")
        n4 = next((p for p in pts if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
        if n4:
            paper_rows.append(("(e) txs per block at saturation, n = 4, 64 B", "3 808",
                               f"{fmt(n4['txs_per_block_mean'])} (cap 2 048)", f"{fmt(n4['txs_per_block_mean'] / 3808, 2)} ×"))
        w("")

    # ---------------------------------------------------------------- (d)
    w("## (d) Ledger growth on disk at 100 tx/s — `bsec bench growth`\n")
    w("Paper, Fig. 6(d): about **100 kB/s per participant** up to 64-byte instructions, growing fast above "
      "256 B. Here a 4-node devnet is offered request txs open-loop at 100 tx/s; every 250 ms the sampler "
      "reads the size of each node's `ledger.db` + `ledger.db-wal`, and the growth rate is the least-squares "
      "slope over each size's run. A warm-up first lets SQLite's write-ahead log reach its working size "
      "(it grows to the checkpoint threshold, then is reused, never shrunk), so the log filling up is not "
      "counted. Beside it, the bytes of the chain itself (signed headers, certificates and txs, read back "
      "with the auditor's raw scan); the difference is what the SQL indexes and the derived state cost.\n")
    if growth:
        pts = growth["points"]
        w("| instruction B | tx B | disk, kB/s per node (mean / max) | chain data kB/s | blocks/s | txs/block | "
          "disk B per tx |\n|---|---|---|---|---|---|---|")
        for p in pts:
            w(f"| {p['instruction_bytes']} | {p['avg_tx_bytes']} | {fmt(p['growth_bytes_per_s_mean'] / 1000, 1)} / "
              f"{fmt(p['growth_bytes_per_s_max'] / 1000, 1)} | {fmt((p['chain_bytes_per_s'] or 0) / 1000, 1)} | "
              f"{fmt(p['blocks_per_s'])} | {fmt(p['txs_per_block'], 1)} | {fmt(p['disk_bytes_per_tx'])} |")
        p64 = next((p for p in pts if p["instruction_bytes"] == 64), None)
        if p64:
            g = p64["growth_bytes_per_s_mean"]
            gl = g + 20 * growth["rate"]   # with the waiting tx ids written out (see below)
            targets.append(("growth at 100 tx/s, 64 B, per node", "≤ 20 kB/s",
                            f"{fmt(g / 1000, 1)} kB/s ({fmt(gl / 1000, 1)} with the waiting tx ids)", gl <= 20000))
            paper_rows.append(("(d) growth per node at 100 tx/s, 64 B", "≈ 100 kB/s", f"{fmt(g / 1000, 1)} kB/s",
                               f"{fmt(g / 100e3, 2)} ×"))
            w(f"\nAt 100 tx/s a block holds {fmt(p64['txs_per_block'], 1)} txs on average: the leader proposes as "
              "soon as a tx is pending (that is what keeps the latency low), so every tx carries a block header "
              "and a commit certificate of its own (stored without the chain_id and the proposer's key, which "
              "the genesis gives), plus its row in the `blocks` table and its timestamp index, the tx's row and "
              "indexes (id, sender, type, domain, object) and the object it creates. "
              f"Chain data alone is {fmt((p64['chain_bytes_per_s'] or 0) / 1000, 1)} kB/s; on disk "
              f"{fmt(p64['disk_bytes_per_tx'])} B per tx.\n")
            w("The index by tx id (`tx_ids`, docs/formats.md) is written in sorted batches: an id reaches the file "
              "up to 65 536 txs after its tx, so during these short windows most ids still wait in the node's "
              f"memory. Written out they take about 20 B each (docs/benchmarks-notes.md, session 13): about "
              f"{fmt((p64['growth_bytes_per_s_mean'] + 20 * growth['rate']) / 1000, 1)} kB/s at this rate in the long run.\n")
        d1 = P.dat("growth", [("growth", [(p["instruction_bytes"], p["growth_bytes_per_s_mean"] / 1000,
                                           (p["chain_bytes_per_s"] or 0) / 1000) for p in pts])])
        png = P.plot("growth", f"""set title 'Ledger growth per node at {fmt(growth['rate'])} tx/s'
set xlabel 'instruction bytes'
set ylabel 'kB/s'
set logscale x 2
set yrange [0:*]
plot '{d1}' using 1:2 with linespoints title 'on disk (ledger.db + wal)', '' using 1:3 with linespoints title 'chain data (blocks, certificates, txs)', 100 with lines dt 2 lc rgb 'red' title 'paper: about 100 kB/s', 20 with lines dt 3 lc rgb 'dark-green' title 'target 20 kB/s'
""")
        if png:
            w(f"![growth]({rel(doc, png)})\n")
    else:
        w("*Not measured in this run.*\n")

    # ---------------------------------------------------------------- sizes
    w("## Encoded sizes — `bsec bench sizes`\n")
    if sizes:
        w("Bytes; domain `p1`; reqN = request with an N-byte instruction, respN = ok response with an N-byte "
          "result; empty = a block with no txs; hdr+c4 = block header plus the commit certificate of a quorum "
          "of 3 of 4 nodes. The paper's prototype (RSA-2048, JSON): request **637 B**, response **655 B**, "
          "empty block **859 B**.\n")
        w("| scheme | req0 | req32 | req64 | req256 | req1k | resp0 | resp32 | resp64 | empty block | hdr+cert n=4 | req32 / 637 |")
        w("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in sizes["schemes"]:
            r, rs = s["request"], s["response"]
            w(f"| {s['scheme']} | {r['0']} | {r['32']} | {r['64']} | {r['256']} | {r['1024']} | {rs['0']} | {rs['32']} | "
              f"{rs['64']} | {s['empty_block']} | {s['header_plus_cert_n4']} | {s['request32_vs_paper']:.2f} |")
        ed = next(s for s in sizes["schemes"] if s["scheme"] == "ed25519")
        rsa = next(s for s in sizes["schemes"] if s["scheme"] == "rsa-pss-2048")
        paper_rows.append(("sizes: request (32-B instruction), ed25519 / rsa", "637 B",
                           f"{ed['request']['32']} / {rsa['request']['32']} B", f"{ed['request']['32'] / 637:.2f} / {rsa['request']['32'] / 637:.2f} ×"))
        paper_rows.append(("sizes: empty block, ed25519 / rsa", "859 B", f"{ed['empty_block']} / {rsa['empty_block']} B",
                           f"{ed['empty_block'] / 859:.2f} / {rsa['empty_block'] / 859:.2f} ×"))
        w("")
    if verify:
        v = verify["verify_per_s"]
        w("**Verification ceiling** (`bsec bench verify`), single core, this run: " + ", ".join(
            f"{k} {fmt(x)}/s" for k, x in v.items()) + f"; decoding and validating a request costs "
          f"{fmt(verify['decode_validate_ns'])} ns = {fmt(100 * verify['decode_validate_vs_ed25519'], 1)} % of one "
          "ed25519 verification.\n")

    # ---------------------------------------------------------------- (f)
    w("## (f) Beyond the paper\n")
    w("### Commit latency — `bsec bench throughput --rate 100,1000,sat`\n")
    w("Open-loop load at a fixed rate (tx i is due at i/rate whatever happened before), each tx timed from the "
      "start of the POST that carried it to the moment node 0 reported its block through a long poll "
      "(`GET /v1/blocks?from=H&wait=…`): admission, gossip, three-phase consensus, the block's fsync and the "
      "API's answer. \"sat\" = offered at the committed rate just measured in the saturation run of the same "
      "devnet (64-byte instructions).\n")
    t = thr.get("ed25519")
    lat = (t or {}).get("latency", [])
    if lat:
        w("| n | offered tx/s | committed tx/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | samples |\n|---|---|---|---|---|---|---|---|---|")
        for L in lat:
            q = L["latency_ms"]
            w(f"| {L['nodes']} | {fmt(L['rate'])}{' (sat)' if L.get('load') == 'saturation' else ''} | {fmt(L['tx_per_s'])} | "
              f"{fmt(q['p50'], 2)} | {fmt(q['p90'], 2)} | {fmt(q['p99'], 2)} | {fmt(q['p99.9'], 2)} | {fmt(q['max'], 1)} | {L['latency_samples']} |")
        l100 = next((L for L in lat if L["nodes"] == 4 and L.get("load") == "fixed" and abs(L["rate"] - 100) < 1), None)
        if l100:
            q = l100["latency_ms"]
            targets.append(("commit latency at 100 tx/s, n = 4: p50", "≤ 5 ms", f"{fmt(q['p50'], 2)} ms", q["p50"] <= 5))
            targets.append(("commit latency at 100 tx/s, n = 4: p99", "≤ 25 ms", f"{fmt(q['p99'], 2)} ms", q["p99"] <= 25))
        sel = [L for L in lat if L["nodes"] == 4] or lat
        blocks = [(f"{fmt(L['rate'])} tx/s" + (" (sat)" if L.get("load") == "saturation" else ""),
                   [(c[0], c[1]) for c in L.get("cdf", [])]) for L in sel]
        if wan and not wan.get("skipped"):
            blocks.append((f"WAN {wan['rtt_ms']} ms RTT, {fmt(wan['latency']['rate'])} tx/s",
                           [(c[0], c[1]) for c in wan["latency"].get("cdf", [])]))
        d1 = P.dat("latency_cdf", blocks)
        lines = ", ".join(f"'{d1}' index {i} using 1:2 with lines lw 2 title '{b[0]}'" for i, b in enumerate(blocks))
        png = P.plot("latency_cdf", f"""set title 'Commit latency CDF, n = {sel[0]['nodes']} (ed25519, 64 B)'
set xlabel 'ms from submission to commit (log)'
set ylabel 'fraction of txs'
set logscale x
set yrange [0:1]
set key bottom right
plot {lines}
""")
        if png:
            w(f"![latency cdf]({rel(doc, png)})\n")
    else:
        w("*Not measured in this run.*\n")

    w("### CPU per committed tx per replica vs n\n")
    if t:
        pts = [p for p in t["points"] if p["instruction_bytes"] == 64] or t["points"]
        w("From the saturation runs (ed25519, 64 B): CPU time of all node processes over the steady window ÷ n ÷ "
          "the txs committed in it (over the whole run when there was no steady window).\n")
        w("| n | µs CPU per tx per replica | committed tx/s |\n|---|---|---|")
        for p in sorted(pts, key=lambda p: p["nodes"]):
            w(f"| {p['nodes']} | {fmt((p['cpu_s_per_tx'] or 0) * 1e6, 1)} | {fmt(p['tx_per_s'])} |")
        c4 = next((p["cpu_s_per_tx"] for p in pts if p["nodes"] == 4), None)
        c10 = next((p["cpu_s_per_tx"] for p in pts if p["nodes"] == 10), None)
        how = ""
        sp = [p for p in (cscale or {}).get("points", []) if p.get("cpu_s_per_tx")]
        s4 = [p["cpu_s_per_tx"] for p in sp if p["nodes"] == 4]
        s10 = [p["cpu_s_per_tx"] for p in sp if p["nodes"] == 10]
        if s4 and s10:
            # the ratio of the medians of runs taken in turn (bench.sh cpu-scaling)
            med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1]) / 2
            w(f"\nThe sweep above runs every n = 4 point before every n = 10 point, minutes apart, so a slow spell "
              f"of this shared VM can fall on one n only. The ratio is therefore taken from {len(sp)} further "
              "saturation runs (64 B) with n = 4 and n = 10 in turn, fresh devnets each: "
              + ", ".join(f"n = {p['nodes']}: {fmt(p['cpu_s_per_tx'] * 1e6, 1)} µs" for p in sp)
              + f"; medians {fmt(med(s4) * 1e6, 1)} and {fmt(med(s10) * 1e6, 1)} µs.\n")
            if c4 and c10:
                w(f"(In the sweep: {fmt(c10 * 1e6, 1)} / {fmt(c4 * 1e6, 1)} µs = {fmt(c10 / c4, 2)} ×.)\n")
            c4, c10 = med(s4), med(s10)
            how = f" (medians of {len(s4)} + {len(s10)} runs in turn)"
        if c4 and c10:
            targets.append(("CPU per tx per replica, n = 10 vs n = 4", "≤ 1.25 ×",
                            f"{fmt(c10 * 1e6, 1)} / {fmt(c4 * 1e6, 1)} µs = {fmt(c10 / c4, 2)} ×{how}", c10 <= 1.25 * c4))
        d1 = P.dat("cpu", [("cpu", [(p["nodes"], (p["cpu_s_per_tx"] or 0) * 1e6) for p in sorted(pts, key=lambda p: p["nodes"])])])
        png = P.plot("cpu_per_tx", f"""set title 'CPU per committed tx per replica (ed25519, 64 B, saturation)'
set xlabel 'n'
set ylabel 'us'
set yrange [0:*]
unset key
plot '{d1}' using 1:2 with linespoints lw 2
""", size="600,400")
        if png:
            w(f"![cpu per tx]({rel(doc, png)})\n")

    w("### View change after a leader crash — `bsec bench viewchange`\n")
    if vc:
        w(f"n = {vc['nodes']}, open-loop load of {fmt(vc['rate'])} tx/s offered to every node but the leader; the "
          "leader is killed with SIGKILL; a surviving replica's status is polled every 10 ms. Commits already in "
          "flight may still complete (the three survivors are a quorum); then the replicas' progress timers "
          f"(view timeout {fmt(vc['view_timeout_s'], 1)} s, started by the last delivery) expire and they change "
          "view. \"After the timeout\" = first commit in the new view − (last commit of the old view + the timeout); "
          "both are seen by the 10-ms poll, so a value within a few tens of ms of zero (either sign) means the new "
          "view committed as soon as the timers expired.\n")
        w("| run | killed | views | kill → commits resume | after the timeout |\n|---|---|---|---|---|")
        for i, r in enumerate(vc["runs"]):
            w(f"| {i + 1} | node {r['killed']} | {r['old_view']} → {r['new_view']} | {fmt(r['kill_to_resume_s'], 3)} s | "
              f"{fmt(r['resume_after_timeout_s'], 3)} s |")
        targets.append(("view change: commits resume after the timeout", "≤ 2 s",
                        f"{fmt(vc['resume_after_timeout_s_max'], 3)} s (worst of {len(vc['runs'])})",
                        vc["resume_after_timeout_s_max"] <= 2))
        w("")
    else:
        w("*Not measured in this run.*\n")

    w("### Catch-up of a replica that missed a stretch of the chain — `bsec bench catchup`\n")
    if cu:
        w(f"n = {cu['nodes']}: node {cu['nodes'] - 1} is stopped, {fmt(cu['missed_txs'])} requests "
          f"({cu['instruction_bytes']}-byte instructions) are committed by the others in {fmt(cu['missed_blocks'])} blocks "
          f"(which takes {fmt(cu.get('load_s'), 0)} s), then the node is started again and timed until its height equals "
          "theirs (no load meanwhile). State transfer fetches the blocks with their certificates, checks each "
          "certificate and the header's roots (a version 2 header commits to every tx signature, so the txs are "
          "not verified again; a version 1 block's are, on a thread of its own, a block ahead of the event loop), "
          "applies the blocks (once, to the state the speculative one shares during a transfer) and stores them "
          "(a reply's blocks in one SQL transaction); a reply carries up to 64 blocks or 8 MiB, and a full one makes "
          "the replica ask the next peer for the blocks after it at once. \"First block after\" "
          "is the first poll of its status (every 20 ms) that shows fetched blocks: a whole reply's by then.\n")
        if cu.get("caught_up", True):
            w("| missed txs | blocks | caught up in | first block after | txs/s (whole) | blocks/s | txs/s from the first fetched block |\n|---|---|---|---|---|---|---|")
            w(f"| {fmt(cu['missed_txs'])} | {fmt(cu['missed_blocks'])} | {fmt(cu['catchup_s'], 2)} s | {fmt(cu['first_block_s'], 2)} s | "
              f"{fmt(cu['txs_per_s'])} | {fmt(cu['blocks_per_s'], 1)} | {fmt(cu['transfer_txs_per_s'])} |")
            runs = cu.get("runs") or []
            spread = ""
            if len(runs) > 1:
                spread = (f", median of {len(runs)} runs, {fmt(cu['txs_per_s_min'])} – {fmt(cu['txs_per_s_max'])}")
                w(f"\nThe run shown is the median of {len(runs)}, each on a fresh devnet (`--repeat {len(runs)}`); all of "
                  "them, txs/s overall (from the first fetched block): "
                  + ", ".join(f"{fmt(r['txs_per_s'])} ({fmt(r['transfer_txs_per_s'])})" for r in runs)
                  + ". On this VM the same build varies this much from run to run (its memory is slow at times).\n")
            targets.append(("catch-up speed", "≥ 50 000 tx/s", f"{fmt(cu['txs_per_s'])} tx/s "
                            f"({fmt(cu['transfer_txs_per_s'])} from the first block{spread})", cu["txs_per_s"] >= 50000))
        else:
            w(f"**The replica did not catch up**: it reached height {cu['height_reached']} of {cu['target_height']} and "
              f"made no progress for 30 s (gave up after {fmt(cu['gave_up_after_s'], 0)} s). The last warnings in its log:\n")
            w("```\n" + "\n".join(cu.get("node_warnings", [])) + "\n```\n")
            targets.append(("catch-up speed", "≥ 50 000 tx/s",
                            f"did not catch up (height {cu['height_reached']} of {cu['target_height']})", False))
        if cus and cus.get("caught_up"):
            w(f"\nThe same with {fmt(cus['missed_txs'])} missed txs ({fmt(cus['missed_blocks'])} blocks, "
              f"{fmt(cus.get('load_s'), 0)} s of load, `bsec bench catchup --txs {cus['missed_txs']}`): caught up in "
              f"{fmt(cus['catchup_s'], 2)} s, first block after {fmt(cus['first_block_s'], 2)} s, **{fmt(cus['txs_per_s'])} "
              f"txs/s** overall, {fmt(cus['transfer_txs_per_s'])} txs/s from the first fetched block on.\n")
        w("")
    else:
        w("*Not measured in this run.*\n")

    w("### A load above capacity — `bsec bench overload`\n")
    if olo:
        w(f"n = {olo['nodes']}{', with orchestrators' if olo['orchestrators'] else ''}: two fresh devnets, one with "
          "admission control (a node refuses new client requests, 503, while more txs wait than it commits in "
          "`backlog_ms` = 2 s; docs/operations.md) and one without (`backlog_ms` 0). The capacity is the first "
          f"devnet's unpaced rate ({fmt(olo['capacity_tx_s'])} tx/s); each devnet is then offered "
          f"{fmt(olo['factor'], 1)} × that, {fmt(olo['offered_tx_s'])} tx/s open loop, for {fmt(olo['seconds'])} s, "
          "and every tx is timed to its commit. The generator offers a refused tx again 2 ms later (a client "
          "honouring the 503). Goodput = commits/s while offering; lost = accepted, never committed.\n")
        w("| | goodput | × capacity | refused (re-offered) | view changes | lost | latency p50 | p99 |\n"
          "|---|---|---|---|---|---|---|---|")
        for name, r in (("with admission control", olo["with_admission"]), ("without", olo["without_admission"])):
            olat = r.get("latency_ms") or {}
            w(f"| {name} | {fmt(r['goodput_tx_s'])} tx/s | {fmt(r['goodput_ratio'], 2)} | "
              f"{fmt(r['refused_mempool_full'])} | {r['view_changes']} | {fmt(r['lost'])} | "
              f"{fmt(olat.get('p50'), 0)} ms | {fmt(olat.get('p99'), 0)} ms |")
        wa = olo["with_admission"]
        targets.append(("(ours, beyond the issue) offered 2 × capacity: goodput, with admission control",
                        "≥ 0.8 × capacity, none lost",
                        f"{fmt(wa['goodput_ratio'], 2)} ×, {fmt(wa['lost'])} lost, {wa['view_changes']} view changes",
                        wa["goodput_ratio"] >= 0.8 and wa["lost"] == 0))
        w("")
    else:
        w("*Not measured in this run.*\n")

    w("### WAN profile: 4 nodes, 50 ms RTT — `bsec bench wan`\n")
    if wan and wan.get("skipped"):
        w(f"*Skipped: {wan['reason']}.*\n")
    elif wan:
        L, S = wan["latency"], wan["saturation"]
        q = L["latency_ms"]
        w(f"{wan['nodes']} nodes, each in its own network namespace (own TCP stack, a veth into a bridge), "
          f"with every peer link running through a delay relay that holds each segment {fmt(wan['one_way_delay_ms'], 0)} ms "
          f"in each direction: RTT {wan['rtt_ms']} ms between every pair. Clients reach their node's API directly.\n")
        w("| load | committed tx/s | p50 ms | p90 ms | p99 ms | txs/block |\n|---|---|---|---|---|---|")
        w(f"| {fmt(L['rate'])} tx/s | {fmt(L['tx_per_s'])} | {fmt(q['p50'], 1)} | {fmt(q['p90'], 1)} | {fmt(q['p99'], 1)} | "
          f"{fmt(L['txs_per_block_mean'], 1)} |")
        w(f"| saturation | **{fmt(S['tx_per_s'])}** | – | – | – | {fmt(S['txs_per_block_mean'])} |")
        lan = next((p for p in (thr.get("ed25519") or {}).get("points", []) if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
        wan_rate = wan["latency"].get("rate", 0)
        lan_l = next((L for L in lat if L["nodes"] == 4 and L.get("load") == "fixed" and abs(L["rate"] - wan_rate) < 1), None)
        if lan:
            w(f"\nOn loopback the same 4 nodes commit {fmt(lan['tx_per_s'])} tx/s in blocks of {fmt(lan['txs_per_block_mean'])} "
              "txs" + (f" and take {fmt(lan_l['latency_ms']['p50'], 1)} ms (p50) at {fmt(lan_l['rate'])} tx/s" if lan_l else "")
              + ". The 50 ms links cost latency, not throughput: with four heights in flight and each taking a few round "
              "trips, the leader's blocks fill up while it waits, and fuller blocks spread the per-block work (votes, "
              "signatures, the fsync, the SQL transaction) over more txs.\n")
        w("\n**Why a relay, and what it models.** This kernel has no `netem` qdisc, so delay cannot come from "
          "traffic control (`tbf`/`htb` only shape rate). The relay (`bsec bench relay`, `src/cli/bench_relay.c`) "
          "is a single-threaded epoll loop in the benchmark process: per connection and direction it queues "
          "every chunk it reads stamped *due = arrival + delay* and writes it when due, in order, so the byte "
          "stream is unchanged and only shifted in time; reads pause above 8 MiB queued so back pressure "
          "reaches the sender. Every node dials the genesis peer endpoints, which point at the relay in front "
          "of the target node (the node itself listens on its namespace address, `peer_listen`), so every peer "
          "connection crosses exactly one relay: one-way delay RTT/2. It models propagation delay with "
          "unlimited bandwidth and no loss; because the relay terminates TCP, slow start and loss recovery "
          "over a long path are not reproduced — acceptable for a consortium that keeps a few connections "
          "open and busy. The commit latency floor is then about four one-way delays (forward to the leader, "
          "pre-prepare, prepare, commit) ≈ 2 RTT.\n")
    else:
        w("*Not measured in this run.*\n")

    w("### Audit verify throughput — `bsec bench audit`\n")
    if au:
        w(f"`bsec audit verify` (docs/audit.md) on a valid chain of {fmt(au['txs'])} txs in {fmt(au['blocks'])} blocks "
          f"({au['source']}: requests to four domains by {fmt(au.get('tenants'))} tenants in turn and their "
          f"responses, {au['scheme']}), checked from the genesis "
          "alone: every header, certificate and tx signature, every validation rule replayed. Signatures are "
          "checked on every core while the replay runs beside them; the ceiling is the cores × the single-core "
          "verification rate, since every tx needs one signature check (blocks add their proposer's and "
          "certificate's), at the rate of the batches the auditor checks in (64 per multi-scalar "
          "multiplication, docs/benchmarks-notes.md). Earlier reports used the one-by-one rate, which "
          "batching passes (shown after the table); the last column is the signatures the auditor checks "
          "per CPU-second over what one-by-one verification manages. CPU-second rates are given too: they "
          "depend less on the other load of a shared machine.\n")
        w("| threads | seconds | txs/s | signatures/s | ceiling (cores × verify/s) | txs/s ÷ ceiling | txs per CPU-s | "
          "signatures per CPU-s ÷ one-by-one rate |\n|---|---|---|---|---|---|---|---|")
        w(f"| {au['threads']} | {fmt(au['seconds'], 2)} | **{fmt(au['txs_per_s'])}** | {fmt(au['signatures_per_s'])} | "
          f"{au['cores']} × {fmt(au.get('batch_verify_per_s_1_core') or au['verify_per_s_1_core'])} = {fmt(au['ceiling_per_s'])} | "
          f"{fmt(au['txs_ratio_to_ceiling'], 2)} | {fmt(au['txs_per_cpu_s'])} | "
          f"{fmt(au['signature_share_of_cpu'], 2)} |")
        bv1 = au.get("batch_verify_per_s_1_core") or au["verify_per_s_1_core"]
        w(f"| 1 | {fmt(au['seconds_1_thread'], 2)} | {fmt(au['txs_per_s_1_thread'])} | – | {fmt(bv1)} | "
          f"{fmt(au['txs_per_s_1_thread'] / bv1 if bv1 else None, 2)} | – | – |")
        if au.get("ceiling_one_by_one_per_s"):
            w(f"\nOne by one, a core verifies {fmt(au['verify_per_s_1_core'])}/s (batched "
              f"{fmt(bv1)}/s): against that ceiling, {fmt(au['ceiling_one_by_one_per_s'])}/s, the auditor "
              f"runs at {fmt(au['txs_per_s'] / au['ceiling_one_by_one_per_s'], 2)} ×.")
        targets.append(("audit verify, txs/s (ours)", "≥ cores × single-core verify/s (batched)", f"{fmt(au['txs_per_s'])} "
                        f"({fmt(au['txs_ratio_to_ceiling'], 2)} × {fmt(au['ceiling_per_s'])})",
                        au["txs_ratio_to_ceiling"] >= 1.0))
        w("")
    else:
        w("*Not measured in this run.*\n")

    # ---------------------------------------------------------------- summary
    w("## Targets (n = 4 unless said)\n")
    if targets:
        w("| target | wanted | measured | |\n|---|---|---|---|")
        for what, want, got, met in targets:
            w(f"| {what} | {want} | {got} | {ok(met) if met is not None else ''} |")
        w("")
    w("## Beside the paper\n")
    if paper_rows:
        w("| figure | paper | BSec | ratio |\n|---|---|---|---|")
        for r in paper_rows:
            w(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
        w("")

    # ---------------------------------------------------------------- profile
    prof = {}
    for r in ("leader", "replica"):
        for k in ("dso", "sym"):
            p = os.path.join(out, f"profile-{r}-{k}.txt")
            if os.path.exists(p):
                prof[(r, k)] = open(p).read().rstrip()
    w("## Where the time goes — `perf`\n")
    if prof:
        w("`perf record -g` for 3 s on the leader (node 0) and on a replica (node 1) of a 4-node devnet "
          "saturated with ed25519 requests (`bench.sh` does this after the parts). Share of samples by "
          "library, then the top symbols:\n")
        for r in ("leader", "replica"):
            if (r, "dso") in prof:
                w(f"<details><summary>{r}</summary>\n\n```\n{prof[(r, 'dso')]}\n\n{prof.get((r, 'sym'), '')}\n```\n</details>\n")
    else:
        w("*No profile in this run.*\n")
    w(bounds(out, m, thr, verify, sizes, growth, cu, lat))
    # hand-written analyses kept beside the generated figures
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks-notes.md")
    if os.path.exists(notes):
        w("## Notes kept by hand\n")
        w("Analyses that need a person and a quiet machine; not regenerated by `make bench` "
          "(they live in `docs/benchmarks-notes.md`).\n")
        text = open(notes).read()
        if text.lstrip().startswith("<!--"):
            text = text[text.index("-->") + 3:]
        w(text.strip() + "\n")
    # closing
    w("## In one paragraph\n")
    w(closing(thr, growth, sizes, ov, sfc, cu, vc, lat))
    text = "\n".join(md) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
    with open(doc, "w") as f:
        f.write(text)
    print(f"bench_report: wrote {doc} and {len(P.made)} plots in {img}/")
    return 0


def profile_share(out, role, dso):
    """Percent of samples in a library from profile-ROLE-dso.txt, or None."""
    try:
        for line in open(os.path.join(out, f"profile-{role}-dso.txt")):
            f = line.split()
            if len(f) >= 2 and dso in f[1]:
                return float(f[0].rstrip("%"))
    except OSError:
        pass
    return None


def bounds(out, m, thr, verify, sizes, growth, cu, lat):
    """What bounds each missed target, from this run's numbers."""
    b = ["### What bounds the misses\n"]
    t = thr.get("ed25519")
    n4 = next((p for p in (t or {}).get("points", []) if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
    if n4:
        v1 = t.get("batch_verify_per_s_one_core") or t["verify_per_s_one_core"]
        us_verify = 1e6 / v1
        cpu = (n4["cpu_s_per_tx"] or 0) * 1e6
        sod = profile_share(out, "replica", "libsodium")
        sod_l = profile_share(out, "leader", "libsodium")
        par = None
        if verify and verify.get("verify_per_s_all_cores"):
            par = verify["verify_per_s_all_cores"]["ed25519"] / verify["verify_per_s"]["ed25519"]
        txt = (f"- **Throughput.** At n = 4 a replica spends {fmt(cpu, 0)} µs of CPU per committed tx, against "
               f"{fmt(us_verify, 1)} µs for the one signature verification it must do (batched, as a node checks)")
        if sod is not None:
            txt += (f"; libsodium (Ed25519 verification and SHA-256) takes {fmt(sod, 0)} % of a replica's samples "
                    f"and {fmt(sod_l, 0)} % of the leader's in the profile")
        if n4.get("ratio_to_ceiling") and n4["ratio_to_ceiling"] < 0.7:
            cores = t.get("cores", 2)
            budget = cores * 1e6 / (4 * 0.7 * n4["ceiling_tx_per_s"])
            txt += (f". At 0.7 of the ceiling a replica could spend {fmt(budget, 1)} µs per tx in all "
                    f"({cores} cores ÷ (4 replicas × 0.7 × {fmt(n4['ceiling_tx_per_s'])} tx/s)), "
                    f"{fmt(budget - us_verify, 1)} µs of it for everything but the signature, where it spends "
                    f"{fmt(cpu - us_verify, 0)} µs")
        txt += (". The rest is admission over HTTPS (TLS, batch decoding), gossiping every client tx to every "
                "replica and receiving it from them, validation against the state, and storing it with its index "
                "rows in the block's SQL transaction; on this machine the load generator's HTTPS posting and other "
                "people's jobs share the same cores. ")
        if par is not None:
            txt += (f"Both cores verifying at once do {fmt(par, 2)} × one core here (`verify_per_s_all_cores`), "
                    "so the target's ceiling (cores × single-core rate ÷ n) is already optimistic on this VM. ")
        fc = sorted(p["first_commits_s"] for p in t["points"] if p.get("first_commits_s") is not None)
        if fc:
            txt += (f"Under the opening burst (the generator's window of 16 384 txs arrives at once) the first "
                    f"commits come {fmt(fc[len(fc) // 2], 1)} s after the load starts (median over the runs, max "
                    f"{fmt(fc[-1], 1)} s): each node admits, verifies and gossips what it is sent before "
                    "consensus gets much of the event loop, as nothing gives consensus messages priority over "
                    "client admission. ")
        vcs = [p for p in t["points"] if p.get("view_changes")]
        if vcs:
            txt += (f"In {len(vcs)} of the saturation runs the replicas changed view under load ("
                    + ", ".join(f"n = {p['nodes']}, {p['instruction_bytes']} B: {p['view_changes']} view change(s), "
                                f"{fmt(p['tx_per_s'])} tx/s" for p in vcs)
                    + "): when a full block takes longer than the progress timeout (2 s in the devnet genesis) to "
                    "get through admission-loaded event loops, the replicas suspect a working leader and change "
                    "view, and the new leader starts over with the same backlog. A progress timer that counts "
                    "prepares arriving as progress, or admission control that leaves the event loop to consensus "
                    "messages first, would keep large consortia live under overload. ")
        one = next((p for p in t["points"] if p["nodes"] == 1), None)
        if one and (one.get("txs_per_block_mean") or 99) < 2:
            txt += ("At n = 1 every block holds a single tx: the node calls `pbft_note_pending` for every admitted "
                    "tx (also inside a batch), and with one replica a proposal commits at once, so each tx pays a "
                    "block, a certificate and an fsync of its own; pumping the proposer once per batch or per "
                    "event-loop turn would let n = 1 batch like the others.")
        b.append(txt + "\n")
    r = thr.get("rsa-pss-2048")
    r4 = next((p for p in (r or {}).get("points", []) if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
    if r4 and r4["tx_per_s"] < 15000:
        cpu = (r4["cpu_s_per_tx"] or 0) * 1e6
        ver1 = 1e6 / r["verify_per_s_one_core"]
        bv = r.get("batch_verify_per_s_one_core")
        ver = 1e6 / bv if bv else ver1
        cores = r.get("cores", 2)
        need = cores * 1e6 / 15000 / r4["nodes"]
        b.append(f"- **RSA-PSS-2048.** {fmt(r4['tx_per_s'])} tx/s at n = 4: a replica spends {fmt(cpu, 0)} µs of CPU per "
                 f"committed tx, of which the RSA-PSS verification is {fmt(ver, 1)} µs in the node's batches "
                 f"({fmt(ver1, 1)} µs one at a time through OpenSSL). 15 000 tx/s with "
                 f"{r4['nodes']} replicas on {cores} cores leaves {fmt(need, 1)} µs per tx per replica for everything, so "
                 f"the rest would have to fall from about {fmt(cpu - ver, 0)} to {fmt(need - ver, 0)} µs. A request is "
                 f"{r4['avg_tx_bytes']} B (a 256-byte key and a 256-byte signature) against 180 B with Ed25519: more to "
                 "hash, copy and encrypt for three peers, and the store's inserts (docs/benchmarks-notes.md).\n")
    if growth and sizes:
        p64 = next((p for p in growth["points"] if p["instruction_bytes"] == 64), None)
        ed = next((s for s in sizes["schemes"] if s["scheme"] == "ed25519"), None)
        if p64 and ed:
            hc = ed["header_plus_cert_n4"]
            tx = ed["request"]["64"]
            budget = 20000 / growth["rate"]
            b.append(f"- **Growth.** 20 kB/s at {fmt(growth['rate'])} tx/s leaves {fmt(budget)} B of disk per tx for "
                     f"everything, and a 64-byte request alone is {tx} B. At {fmt(p64['txs_per_block'], 1)} txs per block "
                     f"each tx also carries {fmt(hc / max(p64['txs_per_block'], 1))} B of header and certificate "
                     f"({hc} B per block at n = 4), then its row and index entries (an 8-byte id prefix, sender, "
                     f"domain, the object it names, the open-request entry): {fmt(p64['disk_bytes_per_tx'])} B per tx on disk. "
                     "Blocks are small because the leader proposes as soon as a tx is pending, which is what keeps "
                     "commit latency low. The ledger stores a header without the chain_id and the proposer's key, "
                     f"which the genesis gives ({hc - 64} B of the {hc} per block); without any header or certificate "
                     f"at all the txs, their index entries and the derived state would still take about "
                     f"{fmt(max(p64['disk_bytes_per_tx'] - (hc - 64) / max(p64['txs_per_block'], 1), 0))} B per tx, "
                     f"{fmt(max(p64['disk_bytes_per_tx'] - (hc - 64) / max(p64['txs_per_block'], 1), 0) * growth['rate'] / 1000, 0)} "
                     "kB/s, so even blocks of unbounded size would not meet the target with these indexes. "
                     "At one tx per block the target cannot be met by any encoding of this chain: "
                     "signatures do not compress, and each 1-tx block holds the proposer's, the 3 of its certificate "
                     "(DESIGN §4 keeps a certificate with every block) and the tenant's, 5 × 64 = 320 B of Ed25519 "
                     f"signatures, i.e. {fmt(320 * growth['rate'] / 1000, 0)} kB/s at {fmt(growth['rate'])} tx/s before "
                     "any other byte. Meeting it takes blocks of many txs at low load (a batching delay of the order of "
                     "100 ms at 100 tx/s, against the 5 ms latency target measured at the same rate) plus leaner "
                     "indexes, or certificates kept only at checkpoints, which DESIGN rules out (the table-by-table "
                     "breakdown is in the notes below).\n")
    l100 = next((L for L in lat if L["nodes"] == 4 and L.get("load") == "fixed" and abs(L["rate"] - 100) < 1), None)
    l1 = next((L for L in lat if L["nodes"] == 1 and L.get("load") == "fixed" and abs(L["rate"] - 100) < 1), None)
    if l100 and l100["latency_ms"]["p50"] > 5:
        q = l100["latency_ms"]
        txt = (f"- **Latency.** At 100 tx/s the median commit at n = 4 takes {fmt(q['p50'], 1)} ms")
        if l1:
            txt += f" where n = 1 takes {fmt(l1['latency_ms']['p50'], 1)} ms"
        txt += (". Between them lie the message hops of consensus: a tx posted to a replica is gossiped to the "
                "leader, which proposes it; PREPAREs and COMMITs go all to all; node 0 then answers the watcher's "
                "long poll. Each hop is an event-loop turn in another process, and four node processes, the "
                "generator and other jobs share two cores, so hops wait for a core")
        txt += ("; and each block costs every replica three fsyncs on the way (its proposal with the PREPARE vote, "
                "the COMMIT vote with the prepared certificate, the block itself), four processes syncing one disk "
                "at once")
        if m.get("fsync_ms"):
            f = m["fsync_ms"]
            txt += (f" (alone, a 4 KiB write + fsync takes {fmt(f['p50'], 2)} ms median, "
                    f"{fmt(f['p99'], 1)} ms p99 here)")
        b.append(txt + ".\n")
    if cu and not cu.get("caught_up", True):
        warn = " ".join(cu.get("node_warnings", []))
        clock = "too far from our clock" in warn
        b.append("- **Catch-up.** The restarted replica did not catch up. "
                 + ("Its log shows it refusing blocks of the stretch it missed as \"too far from our clock\": "
                    "the rule that a proposed block's timestamp must be near the replica's clock is applied to "
                    "blocks that are old by the time this replica sees them, so a replica away for longer than "
                    "that window cannot take them; blocks that come with a commit certificate should be checked "
                    "against their predecessor and the certificate only."
                    if clock else "See the warnings above.") + "\n")
    elif cu and cu.get("txs_per_s", 0) < 50000:
        b.append(f"- **Catch-up.** The restarted replica's API first shows fetched blocks {fmt(cu['first_block_s'], 1)} s after "
                 f"it starts (it asks each peer for newer blocks as its links come up; a reply's blocks, up to 8 MiB, are "
                 f"stored in one turn of its event loop), then transfers at "
                 f"{fmt(cu['transfer_txs_per_s'])} tx/s; tx batches its peers queued for it while it was down wait "
                 "until the transfer is done, when they are recognised as committed without a signature check. A "
                 "version 2 block's header commits to its tx signatures (`sig_root`), so a certified fetched block needs "
                 "no signature check; the transfer is bound by the replica's event loop, which validates and applies "
                 "each block and inserts its txs, objects and index entries into SQLite (about 10 µs per tx replayed "
                 "alone, twice that under the transfer's message handling and this VM's page faults), and by the last "
                 "few blocks, which come as proposals within a log window of the tip and are validated tx by tx "
                 "(docs/benchmarks-notes.md).\n")
    return "\n".join(b)


def closing(thr, growth, sizes, ov, sfc, cu, vc, lat):
    parts = []
    t = thr.get("ed25519")
    if t:
        best = max(t["points"], key=lambda p: p["tx_per_s"])
        n4 = next((p for p in t["points"] if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
        parts.append(f"BSec commits up to {fmt(best['tx_per_s'])} tx/s ({fmt(best['tx_per_s'] / 803.3, 1)} × the paper's "
                     f"803.3) on a 2-core VM" + (f", {fmt(n4['tx_per_s'])} tx/s at n = 4 with 64-byte instructions "
                                                  f"({fmt(n4['tx_per_s'] / 803.3, 1)} ×; {fmt(n4['ratio_to_ceiling'], 2)} of the "
                                                  "verification ceiling)" if n4 else ""))
    r = thr.get("rsa-pss-2048")
    if r:
        n4 = next((p for p in r["points"] if p["nodes"] == 4 and p["instruction_bytes"] == 64), None)
        if n4:
            parts.append(f"with the paper's own RSA-2048 it commits {fmt(n4['tx_per_s'])} tx/s at n = 4 "
                         f"({fmt(n4['tx_per_s'] / 803.3, 1)} ×)")
    if sizes:
        ed = next(s for s in sizes["schemes"] if s["scheme"] == "ed25519")
        parts.append(f"an ed25519 request is {ed['request']['32'] / 637:.2f} × the paper's 637 B")
    o = ov.get(4) or ov.get(1)
    if o:
        parts.append(f"an SFC request costs {fmt(o['overhead_ms'], 1)} ms of overhead ({fmt(o['overhead_ms'] / 60, 2)} × the paper's 60 ms)")
    if sfc:
        worst = max(sfc["points"], key=lambda p: p["overhead_ms"])
        parts.append(f"a chain of {worst['vnfs']} VNFs at n = {worst['nodes']} waits {fmt(worst['overhead_ms'] / 1000, 2)} s for "
                     f"consensus against the paper's 20 s")
    l100 = next((L for L in lat if L["nodes"] == 4 and L.get("load") == "fixed" and abs(L["rate"] - 100) < 1), None)
    if l100:
        parts.append(f"at 100 tx/s the median commit takes {fmt(l100['latency_ms']['p50'], 1)} ms (p99 "
                     f"{fmt(l100['latency_ms']['p99'], 1)} ms)")
    if growth:
        p64 = next((p for p in growth["points"] if p["instruction_bytes"] == 64), None)
        if p64:
            parts.append(f"but the ledger grows {fmt(p64['growth_bytes_per_s_mean'] / 1000, 0)} kB/s per node at 100 tx/s "
                         f"({fmt(p64['growth_bytes_per_s_mean'] / 100e3, 2)} × the paper's, against a target of 0.2 ×)")
    if vc:
        parts.append(f"a crashed leader costs {fmt(vc['kill_to_resume_s_median'], 2)} s of commits (median), "
                     f"{fmt(vc['resume_after_timeout_s_max'], 2)} s at worst beyond the view timeout")
    if cu and cu.get("caught_up", True):
        parts.append(f"and a replica catches up at {fmt(cu['txs_per_s'])} tx/s")
    elif cu:
        parts.append(f"and a replica that missed {fmt(cu['missed_txs'])} txs did not catch up at all")
    return ("; ".join(parts) + ".\n") if parts else "No results.\n"


if __name__ == "__main__":
    sys.exit(main())
