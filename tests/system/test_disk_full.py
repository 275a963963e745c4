"""A node whose disk fills up (docs/reliability.md): 4 nodes under client
load, each with its data directory on its own small tmpfs (root only; the
test is skipped otherwise).  The harness fills node 3's tmpfs; the node
must then say so — GET /v1/status healthy=false, bsec_healthy 0, 503
node_failed on POST — while the other three keep committing; stopped, its
ledger must pass `bsec audit verify` and end exactly at the height it last
reported (no half-written block); once space is freed and it restarts it
must be healthy again and catch up, and no client-seen tx may be missing
anywhere."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "chaos"))
import chaos  # noqa: E402

chaos.QUIET = True


NO_TMPFS = ("BSEC_NO_NETNS=1" if os.environ.get("BSEC_NO_NETNS") == "1" else chaos.Net._netns_missing())


@unittest.skipIf(NO_TMPFS, f"needs root, ip, nft and tc for a tmpfs per node: {NO_TMPFS}")
class DiskFullTest(unittest.TestCase):
    def test_full_disk_stops_work_and_recovers(self):
        cl = chaos.Cluster(n=4, disk_mb=24, keep=os.environ.get("BSEC_KEEP") == "1")
        self.addCleanup(cl.destroy)
        cl.setup()
        cl.start_all()
        load = chaos.Load(cl, rate=15, threads=2)
        load.start()
        self.addCleanup(load.finish)
        ch = chaos.Chaos(cl, load, 1, [])

        def wait(pred, timeout, what):
            v = chaos.wait_until(pred, timeout, 0.2)
            if not v:
                self.fail(f"{what}: not within {timeout} s\n{cl.logs(10)}")
            return v
        wait(lambda: load.commits_since(0) >= 10, 30, "first commits")
        victim = (ch.leader() + 1) % cl.n
        cl.fill_disk(victim)
        t_full = time.monotonic()
        wait(lambda: (cl.status(victim) or {}).get("healthy") is False, 20, "healthy=false after the disk filled")
        detect = time.monotonic() - t_full
        # it refuses work, with the reason
        _, raw = load._sign(9, 1)
        st, body = cl.apis[victim].request("POST", "/v1/transactions", raw,
                                           headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(st, 503, body)
        self.assertEqual(json.loads(body)["error"], "node_failed", body)
        st, body = cl.apis[victim].request("GET", "/metrics")
        self.assertIn(b"\nbsec_healthy 0\n", body)
        # the others go on
        t1 = time.monotonic()
        wait(lambda: load.commits_since(t1) >= 10, 20, "commits by the other three nodes")
        # stopped: its ledger is whole and ends where it said
        last = cl.status(victim)["height"]
        self.assertEqual(cl.kill(victim, signal.SIGTERM, expect={0}), 0)
        cl.free_disk(victim)
        a = chaos.audit_all(cl)[victim]
        self.assertTrue(a["ok"], a)
        self.assertEqual(a["blocks"], last, "the ledger does not end at the last height the node reported")
        # restarted with space again: healthy, catches up, takes part
        cl.start(victim)
        others = [i for i in range(cl.n) if i != victim]
        target = max(cl.status(i)["height"] for i in others)
        t2 = time.monotonic()
        wait(lambda: (cl.status(victim) or {}).get("healthy") is True and cl.status(victim)["height"] >= target,
             30, "the restarted node healthy and caught up")
        recover = time.monotonic() - t2
        lost = load.drain(20)
        self.assertEqual(lost, [], "accepted txs that never committed")
        res = ch.final_checks()
        self.assertEqual(ch.violations, [])
        self.assertEqual(res["client_txs_missing_somewhere"], 0)
        cl.stop_all()
        self.assertEqual(cl.crashes, [])
        self.assertEqual(cl.scan_logs(), [])
        print(json.dumps({"detected_after_s": round(detect, 2), "caught_up_after_restart_s": round(recover, 2),
                          "height_at_failure": last, "final": res}))


if __name__ == "__main__":
    unittest.main()
