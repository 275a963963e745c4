"""The short fault-injection run of `make check` (the long one is `make
chaos`, docs/reliability.md): tests/chaos/chaos.py over a 4-node devnet
under client load, every fault kind once in a seeded order, each for 1.5 to
2.5 s — kill -9 and restart, SIGSTOP/SIGCONT, one node cut off, the
consortium split in halves, link delays, connection resets, a bandwidth
limit, clock skew and a full disk (the last two kinds, and partitions by
nftables, need root: without it the run uses loopback and relay-level
partitions and says what it skipped).  It fails on any violation: chains
that disagree, a client-seen tx missing on a node, an accepted tx never
committed, commits not resuming within the bound after a heal, an
unexpected exit, a sanitizer report, a ledger failing `bsec audit verify`.

CHAOS_SEED picks the schedule (default 1); BSEC_KEEP=1 keeps the devnet
directory (node logs in DIR/nodeI/node.log)."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "chaos"))
import chaos  # noqa: E402


class ChaosShortTest(unittest.TestCase):
    def test_every_fault_once(self):
        seed = os.environ.get("CHAOS_SEED", "1")
        argv = ["--seconds", "80", "--seed", seed, "--each-once", "--min-fault", "1.5", "--max-fault", "2.5",
                "--gap", "0.5", "--rate", "15", "--recovery-bound", "20",
                "--faults", "kill,stop,isolate,split,delay,flaky,rate,skew,disk"]
        if os.environ.get("BSEC_KEEP") == "1":
            argv.append("--keep")
        rep = chaos.run(chaos.parser().parse_args(argv))
        print(json.dumps({k: rep.get(k) for k in ("mode", "note", "skipped", "summary", "checks", "elapsed_s")},
                         indent=1))
        self.assertEqual(rep.get("violations"), [], "\n\n".join(rep.get("violations") or []))
        kinds = {f["kind"] for f in rep["faults"]}
        self.assertTrue({"kill", "stop", "isolate", "split", "delay", "flaky", "skew"} <= kinds, kinds)
        self.assertGreater(rep["checks"]["client_txs_committed"], 100)
        self.assertTrue(all(a["ok"] for a in rep["audit"].values()), rep["audit"])


if __name__ == "__main__":
    unittest.main()
