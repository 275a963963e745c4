"""Smoke test of the benchmark parts (`bsec bench … --json`) at tiny sizes:
each runs, prints JSON with the fields the report reads, and the numbers
are sane (positive rates, ordered percentiles, a CDF that ends at 1).
Benchmarks are not tests — this only keeps them from rotting; the real
suite is `make bench`.  Under a minute on 2 cores."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bsecutil import run, run_json, TempDir  # noqa: E402


def pos(x):
    return isinstance(x, (int, float)) and x > 0


class BenchSmoke(unittest.TestCase):
    def assert_percentiles(self, q):
        keys = ["min", "p50", "p90", "p99", "p99.9", "max"]
        vals = [q[k] for k in keys]
        self.assertTrue(all(pos(v) for v in vals), q)
        self.assertEqual(vals, sorted(vals), f"percentiles out of order: {q}")

    def test_sizes_and_verify(self):
        s = run_json("bench", "sizes", "--json")
        ed = next(x for x in s["schemes"] if x["scheme"] == "ed25519")
        self.assertLess(ed["request"]["32"], s["paper"]["request"])
        self.assertGreater(ed["request"]["1024"], ed["request"]["32"])
        v = run_json("bench", "verify", "--seconds", "0.05", "--json")
        for k in ("ed25519", "ecdsa-p256", "rsa-pss-2048"):
            self.assertTrue(pos(v["verify_per_s"][k]), v)

    def test_load_with_latency_cdf(self):
        with TempDir() as d:
            run("devnet", "init", "--dir", d, "--nodes", "1", "--driver", "sim", "--force")
            run("devnet", "up", "--dir", d, "--detach", "--no-orchestrators")
            try:
                r = run_json("bench", "load", "--dir", d, "--count", "100", "--rate", "200", "--cdf", "--json",
                             timeout=60)
                self.assertEqual(r["submitted"], 100)
                self.assertEqual(r["committed"], 100)
                self.assertEqual(r["latency_samples"], 100)
                self.assert_percentiles(r["latency_ms"])
                cdf = r["cdf"]
                self.assertEqual(len(cdf), 100)
                self.assertEqual([c[0] for c in cdf], sorted(c[0] for c in cdf))
                self.assertAlmostEqual(cdf[-1][1], 1.0)
                self.assertTrue(pos(r["tx_per_s"]) and pos(r["cpu_s_per_tx"]), r)
                self.assertIn("generator_bound", r)
                self.assertTrue(r["bound"])
                # unpaced: no latency, but a rate and txs per block
                u = run_json("bench", "load", "--dir", d, "--count", "1000", "--json", timeout=60)
                self.assertEqual(u["committed"], u["submitted"])
                self.assertTrue(pos(u["tx_per_s"]) and pos(u["txs_per_block_mean"]), u)
                self.assertGreaterEqual(u["txs_per_block_max"], u["txs_per_block_mean"])
            finally:
                run("devnet", "down", "--dir", d, check=False)

    def test_throughput_sweep(self):
        t = run_json("bench", "throughput", "--nodes", "1", "--instruction-bytes", "16,64", "--seconds", "0.6",
                     "--rate", "100", "--sign-budget", "0.5", "--json", timeout=90)
        self.assertEqual([p["instruction_bytes"] for p in t["points"]], [16, 64])
        for p in t["points"]:
            self.assertTrue(pos(p["tx_per_s"]) and pos(p["ceiling_tx_per_s"]), p)
            self.assertGreater(p["avg_tx_bytes"], p["instruction_bytes"])
        self.assertEqual(len(t["latency"]), 1)
        self.assert_percentiles(t["latency"][0]["latency_ms"])

    def test_overload_tiny(self):
        o = run_json("bench", "overload", "--nodes", "1", "--seconds", "2", "--json", timeout=240)
        self.assertTrue(pos(o["capacity_tx_s"]), o)
        self.assertAlmostEqual(o["offered_tx_s"], 2 * o["capacity_tx_s"], delta=1)
        for k in ("with_admission", "without_admission"):
            r = o[k]
            self.assertTrue(pos(r["goodput_tx_s"]), r)
            self.assertAlmostEqual(r["goodput_ratio"], r["goodput_tx_s"] / o["capacity_tx_s"], places=3)
            self.assertEqual(r["lost"], 0, r)        # accepted txs are committed, either way
            self.assertEqual(r["committed"], r["submitted"], r)
            self.assert_percentiles(r["latency_ms"])
        self.assertTrue(o["with_admission"]["admission_control"])
        self.assertFalse(o["without_admission"]["admission_control"])

    def test_sfc_scaled(self):
        s = run_json("bench", "sfc", "--nodes", "1", "--vnfs", "1,2", "--vnf-ms", "1000", "--time-scale", "0.02",
                     "--json", timeout=90)
        pts = s["points"]
        self.assertEqual([p["vnfs"] for p in pts], [1, 2])
        for p in pts:
            # two sim VNFs of 20 ms each at least, and the scaled-back time near K x 1 s
            self.assertGreaterEqual(p["direct_ms"], 20 * p["vnfs"] * 0.9)
            self.assertGreater(p["measured_ms"], p["direct_ms"])
            self.assertGreater(p["creation_s_at_paper_scale"], p["vnfs"] * 0.9)

    def test_growth_tiny(self):
        g = run_json("bench", "growth", "--nodes", "1", "--instruction-bytes", "64", "--seconds", "1.5",
                     "--warmup", "0", "--rate", "50", "--json", timeout=90)
        p = g["points"][0]
        self.assertTrue(pos(p["growth_bytes_per_s_mean"]) and pos(p["chain_bytes_per_s"]), p)
        self.assertTrue(pos(p["blocks_per_s"]), p)


if __name__ == "__main__":
    unittest.main()
