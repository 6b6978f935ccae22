#!/usr/bin/env python3
"""The ZK benchmark's table: veritas (bench/src/zk.rs) against EZKL (ezkl_peer.py), same models.

    python3 bench/zk/compare.py VERITAS.json EZKL.json

Prints Markdown for bench/RESULTS.md: per model, prove time, verify time, proof size and peak
memory of both systems and the prove-time ratio; then the one-time costs (veritas' commitment to
the weights, EZKL's setup).
"""
import json
import sys


def ezkl_cell(row, key, fmt):
    if not row.get("ok"):
        return (row.get("error") or "not run")[:60]
    return fmt(row[key])


def main():
    veritas = {row["model"]: row for row in json.load(open(sys.argv[1]))}
    ezkl = {row["model"]: row for row in json.load(open(sys.argv[2]))["results"]}
    print("| model | veritas prove | EZKL prove | EZKL ÷ veritas | veritas verify | EZKL verify "
          "| veritas proof | EZKL proof | veritas peak | EZKL peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, v in veritas.items():
        e = ezkl.get(name, {})
        ratio = f"{e['prove_s'] / v['prove_s']:,.0f}×" if e.get("ok") else "—"
        cells = [
            name,
            f"{v['prove_s'] * 1e3:.1f} ms",
            ezkl_cell(e, "prove_s", lambda x: f"{x:.2f} s"),
            ratio,
            f"{v['verify_ms']:.2f} ms",
            ezkl_cell(e, "verify_s", lambda x: f"{x * 1e3:.1f} ms"),
            f"{v['proof_bytes'] / 1024:.1f} KB",
            ezkl_cell(e, "proof_bytes", lambda x: f"{x / 1024:.1f} KB"),
            f"{v['peak_rss_mib']:.0f} MiB",
            ezkl_cell(e, "peak_rss_mb", lambda x: f"{x:.0f} MiB"),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    print("| model | veritas commitment (once per model version) | EZKL setup (once per model) "
          "| EZKL logrows | veritas committed values |")
    print("|---|---|---|---|---|")
    for name, v in veritas.items():
        e = ezkl.get(name, {})
        setup = f"{e['setup_s']:.1f} s (peak {e.get('peak_rss_mb_setup', 0):.0f} MiB)" if e.get("setup_s") else "—"
        print(f"| {name} | {v['commit_s'] * 1e3:.0f} ms | {setup} | {e.get('logrows', '—')} | 2^{v['log_params']} |")


if __name__ == "__main__":
    main()
