#!/usr/bin/env python3
"""The ZK benchmark's table: veritas (bench/src/zk.rs) against EZKL (ezkl_peer.py), same models.

    python3 bench/zk/compare.py VERITAS.json EZKL.json [EZKL-TUNED.json]

Prints Markdown for bench/RESULTS.md: per model, prove time, verify time, proof size and peak
memory of both systems and the prove-time ratio; then the one-time costs (veritas' commitment to
the weights, EZKL's setup). With a third file (ezkl_peer.py --profile tuned), one row per
system and model instead: veritas, EZKL's default profile and EZKL's tuned profile, with
prove, verify, proof size, peak memory, logrows and EZKL's prove time over veritas'; then the
one-time costs and the tuned profile's settings (scales, decomposition, rows, how far its
outputs are from the float model's).
"""
import json
import sys


def ezkl_cell(row, key, fmt):
    if not row.get("ok"):
        return (row.get("error") or "not run")[:60]
    return fmt(row[key])


def ezkl_rows(path, profile):
    rows = json.load(open(path))["results"]
    return {row["model"]: row for row in rows if row.get("profile", "default") == profile}


def three_way(veritas, ezkl, tuned):
    """veritas, EZKL default and EZKL tuned, one row each per model."""
    print("| model | prover | prove | verify | proof | peak memory | logrows | EZKL ÷ veritas (prove) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, v in veritas.items():
        print(f"| {name} | veritas | {v['prove_s'] * 1e3:.1f} ms | {v['verify_ms']:.2f} ms "
              f"| {v['proof_bytes'] / 1024:.1f} KB | {v['peak_rss_mib']:.0f} MiB "
              f"| — (2^{v['log_params']} committed values) | — |")
        for label, rows in (("EZKL default", ezkl), ("EZKL tuned", tuned)):
            e = rows.get(name, {})
            ratio = f"{e['prove_s'] / v['prove_s']:,.0f}×" if e.get("ok") else "—"
            cells = [
                name, label,
                ezkl_cell(e, "prove_s", lambda x: f"{x:.2f} s"),
                ezkl_cell(e, "verify_s", lambda x: f"{x * 1e3:.1f} ms"),
                ezkl_cell(e, "proof_bytes", lambda x: f"{x / 1024:.1f} KB"),
                ezkl_cell(e, "peak_rss_mb", lambda x: f"{x:.0f} MiB"),
                str(e.get("logrows", "—")),
                ratio,
            ]
            print("| " + " | ".join(cells) + " |")
    print()
    print("| model | veritas commitment | EZKL setup, default | EZKL setup, tuned "
          "| tuned settings | tuned outputs against the float model |")
    print("|---|---|---|---|---|---|")
    for name, v in veritas.items():
        d, t = ezkl.get(name, {}), tuned.get(name, {})
        st = t.get("settings") or {}
        settings = (f"scales {st['input_scale']}/{st['param_scale']}, rebase ×{st['scale_rebase_multiplier']}, "
                    f"decomposition {st['decomp_base']}^{st['decomp_legs']}, lookup range "
                    f"{tuple(st['lookup_range'])}, {st['num_inner_cols']} inner columns, "
                    f"{st['num_rows']:,} rows" if st else "—")
        check = t.get("output_check") or {}
        check = (f"max abs error {check['max_abs_error']:.3g}, argmax "
                 f"{'agrees' if check['argmax_agrees'] else 'differs'}"
                 if "max_abs_error" in check else "—")
        print(f"| {name} | {v['commit_s'] * 1e3:.0f} ms | {setup(d)} | {setup(t)} | {settings} | {check} |")


def setup(e):
    if not e.get("setup_s"):
        return "—"
    return f"{e['setup_s']:.1f} s (peak {e.get('peak_rss_mb_setup', 0):.0f} MiB)"


def main():
    veritas = {row["model"]: row for row in json.load(open(sys.argv[1]))}
    ezkl = ezkl_rows(sys.argv[2], "default")
    if len(sys.argv) > 3:
        three_way(veritas, ezkl, ezkl_rows(sys.argv[3], "tuned"))
        return
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
