#!/usr/bin/env python3
"""chaos.py — fault injection over a real BSec devnet under continuous load
(docs/reliability.md).  Python standard library only.

A run:
  1. makes a devnet (`bsec devnet init`) in a temporary directory and
     rewires it for the harness: every node's peer traffic goes through a
     relay in this process (which can delay it, reset it, or cut it); as
     root each node runs in its own network namespace (veth into a bridge,
     nftables drops for partitions, `tbf` for bandwidth) with its data
     directory on its own small tmpfs (a full disk); without root the
     nodes share loopback and partitions come from the relay, and the disk
     and bandwidth faults are skipped (said in the report);
  2. starts the nodes itself (their exit statuses are watched), with
     BSEC_TEST_FAULTS=1 so a node's wall clock can be skewed through a file
     (node.c), and, with --byzantine, as the test binary build/byz/bsec so
     one node at a time can be made to misbehave (node/byzantine.h);
  3. keeps clients submitting signed requests (and optionally `bsec bench
     load` for volume) and follows the committed blocks to learn which txs
     committed at which height;
  4. applies a seeded random schedule of faults, one at a time, each
     touching at most f nodes (except split partitions, which stop
     progress on purpose): kill -9 + restart, SIGSTOP/SIGCONT, partitions
     (one node cut off, or the consortium split in halves), delays and
     connection resets on a node's links, a bandwidth limit, clock skew, a
     full disk, and Byzantine behaviours;
  5. after each fault heals, measures the time until every node has
     caught up past the height reached at the heal (the recovery bound is
     --recovery-bound seconds);
  6. at the end checks: the honest nodes' chains agree block by block;
     every tx a client saw committed is at the same height on every node;
     every node's ledger passes `bsec audit verify`; no node exited except
     when the harness killed or stopped it, and no log holds a sanitizer
     report or an abort.
It prints a JSON report (--report FILE also writes it) and exits 1 when
any check failed.  Every wait is bounded and everything it created
(processes, namespaces, bridge, mounts, relay ports, the directory unless
--keep) is removed on the way out, failure or not.

Usage: chaos.py [--seconds S] [--seed N] [--nodes N] [--faults LIST]
                [--byzantine] [--no-netns] [--asan] [--rate TX/S]
                [--bench-rate TX/S] [--keep] [--report FILE]
"""
import argparse
import asyncio
import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BSEC = os.environ.get("BSEC", os.path.join(ROOT, "build", "bsec"))
BSEC_BYZ = os.environ.get("BSEC_BYZ", os.path.join(ROOT, "build", "byz", "bsec"))
BSEC_ASAN = os.path.join(ROOT, "build", "asan", "bsec")

ALL_FAULTS = ["kill", "stop", "isolate", "split", "delay", "flaky", "rate", "skew", "disk", "byzantine"]
LEADER_BEHAVIOURS = ["equivocate", "censor", "invalid-tx", "bad-prev"]
REPLICA_BEHAVIOURS = ["bad-vote", "wrong-key", "replay", "flood"]
CRASH_PATTERNS = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                            r"stack smashing|Assertion .* failed|Segmentation fault|Aborted|core dumped")

T0 = time.monotonic()
QUIET = False


def say(msg):
    if not QUIET:
        print(f"[chaos {time.monotonic() - T0:7.2f}] {msg}", flush=True)


def sh(*args, check=True, timeout=30, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {p.returncode}: {p.stderr.strip()[-400:]}")
    return p


def wait_until(pred, timeout, step=0.1):
    """pred()'s first true value within timeout seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(step)


# ---------------------------------------------------------------- relay

class Relay:
    """A TCP relay per node (its genesis peer address points here): every
    link i->j (node i's outbound connection to node j) passes through it,
    so it can delay the bytes of a link, reset its connections now and
    then, or refuse it (partitions without root).  asyncio, in a thread."""

    def __init__(self, host, targets, identify):
        self.host = host
        self.targets = targets          # j -> (host, port) of node j's real peer listener
        self.identify = identify        # (peer ip, peer port, relay port) -> origin node or None
        self.delay_ms = {}              # (i, j) -> ms
        self.blocked = set()            # (i, j) refused / cut
        self.flaky = {}                 # node -> resets per second on its links
        self.conns = set()
        self.ports = {}
        self.unidentified = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.servers = []

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self):
        self.thread.start()
        for j in self.targets:
            fut = asyncio.run_coroutine_threadsafe(
                asyncio.start_server(lambda r, w, j=j: self._handle(j, r, w), self.host, 0), self.loop)
            srv = fut.result(10)
            self.servers.append(srv)
            self.ports[j] = srv.sockets[0].getsockname()[1]
        asyncio.run_coroutine_threadsafe(self._flaky_loop(), self.loop)

    def stop(self):
        async def close():
            for s in self.servers:
                s.close()
            for c in list(self.conns):
                c.abort()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel()
        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _delay(self, i, j):
        return max(self.delay_ms.get((i, j), 0), self.delay_ms.get((i, None), 0),
                   self.delay_ms.get((None, j), 0), self.delay_ms.get((None, None), 0))

    async def _handle(self, j, reader, writer):
        peer = writer.get_extra_info("peername")
        port = writer.get_extra_info("sockname")[1]
        i = self.identify(peer[0], peer[1], port)
        if i is None:
            self.unidentified += 1
        if (i, j) in self.blocked:
            writer.transport.abort()
            return
        try:
            ur, uw = await asyncio.wait_for(asyncio.open_connection(*self.targets[j]), 3)
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()
            return
        conn = _Conn(self, i, j, writer, uw)
        self.conns.add(conn)
        try:
            await asyncio.gather(conn.pump(reader, uw), conn.pump(ur, writer), return_exceptions=True)
        except asyncio.CancelledError:
            pass
        finally:
            conn.abort()
            self.conns.discard(conn)

    async def _flaky_loop(self):
        rnd = random.Random(7)
        while True:
            await asyncio.sleep(0.25)
            for c in list(self.conns):
                p = max(self.flaky.get(c.i, 0), self.flaky.get(c.j, 0)) * 0.25
                if p and rnd.random() < p:
                    c.abort()

    def _apply(self, fn):
        self.loop.call_soon_threadsafe(fn)

    def set_blocked(self, pairs):
        def f():
            self.blocked = set(pairs)
            for c in list(self.conns):
                if (c.i, c.j) in self.blocked:
                    c.abort()
        self._apply(f)

    def set_delay(self, key, ms):
        def f():
            if ms:
                self.delay_ms[key] = ms
            else:
                self.delay_ms.pop(key, None)
        self._apply(f)

    def set_flaky(self, node, rate):
        def f():
            if rate:
                self.flaky[node] = rate
            else:
                self.flaky.pop(node, None)
        self._apply(f)


class _Conn:
    def __init__(self, relay, i, j, w1, w2):
        self.relay, self.i, self.j = relay, i, j
        self.writers = (w1, w2)
        self.dead = False

    def abort(self):
        if not self.dead:
            self.dead = True
            for w in self.writers:
                try:
                    w.transport.abort()
                except Exception:
                    pass

    async def pump(self, r, w):
        q = collections.deque()
        ev = asyncio.Event()
        loop = asyncio.get_running_loop()

        async def drain():
            while True:
                while not q:
                    ev.clear()
                    await ev.wait()
                due, data = q.popleft()
                if data is None:
                    try:
                        w.write_eof()
                    except Exception:
                        pass
                    return
                d = due - loop.time()
                if d > 0:
                    await asyncio.sleep(d)
                w.write(data)
                await w.drain()

        task = asyncio.ensure_future(drain())
        try:
            while not self.dead:
                data = await r.read(65536)
                due = loop.time() + self.relay._delay(self.i, self.j) / 1000.0
                q.append((due, data if data else None))
                ev.set()
                if not data:
                    break
            await task
        except Exception:
            self.abort()
        finally:
            if not task.done():
                task.cancel()


def proc_socket_owner(local_port, remote_port, pids):
    """Node index whose process owns the loopback TCP socket
    127.0.0.1:local_port -> :remote_port (Linux /proc), or None."""
    inode = None
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                lp = int(p[1].split(":")[1], 16)
                rp = int(p[2].split(":")[1], 16)
                if lp == local_port and rp == remote_port:
                    inode = p[9]
                    break
    except OSError:
        return None
    if not inode or inode == "0":
        return None
    want = f"socket:[{inode}]"
    for i, pid in pids.items():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                        return i
                except OSError:
                    pass
        except OSError:
            pass
    return None


# ---------------------------------------------------------------- network

class Net:
    """Where nodes live.  As root (`netns` mode): node i in namespace
    NS_i with address 10.X.Y.(i+1) on a veth into a bridge whose root
    side is 10.X.Y.254 (the relay listens there); partitions are nftables
    drops in the nodes' namespaces on their connections to the relay's
    per-node ports; bandwidth limits are tbf qdiscs on both ends of a
    node's veth.  Otherwise (`local`): loopback, partitions in the relay."""

    def __init__(self, n, want_netns):
        self.n = n
        self.mode = "local"
        self.why_local = None
        self.created_ns = []
        self.bridge = None
        if want_netns and os.environ.get("BSEC_NO_NETNS") == "1":
            want_netns = False
            self.why_local = "BSEC_NO_NETNS=1"
        elif want_netns:
            self.why_local = self._netns_missing()
            if not self.why_local:
                self.mode = "netns"
        elif not self.why_local:
            self.why_local = "--no-netns"
        self.tag = f"{os.getpid()}"
        if self.mode == "netns":
            self._cleanup_stale()
            self.prefix = self._pick_subnet()
            self.relay_ip = f"{self.prefix}.254"
        else:
            self.relay_ip = "127.0.0.1"

    @staticmethod
    def _netns_missing():
        if os.geteuid() != 0:
            return "not running as root"
        for tool in ("ip", "nft", "tc"):
            if not shutil.which(tool):
                return f"`{tool}' not found"
        return None

    @staticmethod
    def _cleanup_stale():
        """Namespaces and bridges of earlier runs whose process is gone."""
        p = sh("ip", "netns", "list", check=False)
        for line in p.stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            m = re.match(r"bsecc(\d+)n\d+$", name)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                sh("ip", "netns", "del", name, check=False)
        # tmpfs data directories of runs that were killed before cleaning up
        try:
            with open("/proc/mounts") as f:
                mounts = [line.split()[1] for line in f]
        except OSError:
            mounts = []
        for m in mounts:
            mm = re.match(r"(.*/bsec-chaos-(\d+)-[^/]+)/node\d+/data$", m)
            if mm and not os.path.exists(f"/proc/{mm.group(2)}"):
                sh("umount", "-l", m, check=False)
                shutil.rmtree(mm.group(1), ignore_errors=True)
        p = sh("ip", "-o", "link", "show", "type", "bridge", check=False)
        for m in re.finditer(r"^\d+: (bcb(\d+)):", p.stdout, re.M):
            if not os.path.exists(f"/proc/{m.group(2)}"):
                sh("ip", "link", "del", m.group(1), check=False)

    @staticmethod
    def _pick_subnet():
        used = sh("ip", "-4", "-o", "addr", check=False).stdout + sh("ip", "-4", "route", check=False).stdout
        rnd = random.Random(os.getpid())
        for _ in range(200):
            pfx = f"10.{rnd.randint(200, 250)}.{rnd.randint(0, 255)}"
            if pfx + "." not in used:
                return pfx
        raise RuntimeError("no free 10.x.y.0/24 subnet")

    def ns(self, i):
        return f"bsecc{self.tag}n{i}"

    def ip(self, i):
        return f"{self.prefix}.{i + 1}" if self.mode == "netns" else "127.0.0.1"

    def veth_host(self, i):
        return f"bcv{self.tag}h{i}"[:15]

    def setup(self):
        if self.mode != "netns":
            return
        self.bridge = f"bcb{self.tag}"[:15]
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.relay_ip}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i in range(self.n):
            ns, vh, vn = self.ns(i), self.veth_host(i), f"bcv{self.tag}n{i}"[:15]
            sh("ip", "netns", "add", ns)
            self.created_ns.append(ns)
            sh("ip", "link", "add", vh, "type", "veth", "peer", "name", vn)
            sh("ip", "link", "set", vn, "netns", ns)
            sh("ip", "link", "set", vh, "master", self.bridge, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", vn, "name", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=(
                "table inet chaos {\n"
                "  set relay_ports { type inet_service; }\n"
                "  chain out { type filter hook output priority 0; policy accept;\n"
                f"    ip daddr {self.relay_ip} tcp dport @relay_ports drop; }}\n"
                "  chain in { type filter hook input priority 0; policy accept;\n"
                f"    ip saddr {self.relay_ip} tcp sport @relay_ports drop; }}\n"
                "}\n"))
        # the nodes answer the root namespace (clients, relay) over the bridge
        ok = wait_until(lambda: all(self._ping(i) for i in range(self.n)), 10, 0.2)
        if not ok:
            raise RuntimeError("the node namespaces do not answer on the bridge")

    def _ping(self, i):
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect((self.ip(i), 9))
            return True
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def prefix_cmd(self, i):
        return ["ip", "netns", "exec", self.ns(i)] if self.mode == "netns" else []

    def cut(self, pairs, relay_ports):
        """Drops links (i, j) (i's connection to j's relay port).  netns:
        nftables in i's namespace; local: the relay."""
        by_node = collections.defaultdict(set)
        for i, j in pairs:
            by_node[i].add(relay_ports[j])
        for i in range(self.n):
            sh("ip", "netns", "exec", self.ns(i), "nft", "flush", "set", "inet", "chaos", "relay_ports")
            if by_node[i]:
                ports = ", ".join(str(p) for p in sorted(by_node[i]))
                sh("ip", "netns", "exec", self.ns(i), "nft", "add", "element", "inet", "chaos",
                   "relay_ports", "{ " + ports + " }")

    def set_rate(self, i, kbit):
        for cmd in (["tc"], ["ip", "netns", "exec", self.ns(i), "tc"]):
            dev = self.veth_host(i) if len(cmd) == 1 else "eth0"
            if kbit:
                sh(*cmd, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{kbit}kbit",
                   "burst", "32kb", "latency", "400ms")
            else:
                sh(*cmd, "qdisc", "del", "dev", dev, "root", check=False)

    def teardown(self):
        for ns in self.created_ns:
            sh("ip", "netns", "del", ns, check=False)
        self.created_ns = []
        if self.bridge:
            sh("ip", "link", "del", self.bridge, check=False)
            self.bridge = None


# ---------------------------------------------------------------- HTTPS

class Api:
    """Small HTTPS client for one node's API, trusting only the devnet CA.
    One keep-alive connection per (thread, node)."""

    def __init__(self, url, ca):
        host, port = url[len("https://"):].split("/")[0].rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.local = threading.local()

    def request(self, method, path, body=None, timeout=3.0, headers=None):
        """(status, bytes) or raises OSError & co."""
        conn = getattr(self.local, "conn", None)
        for attempt in (0, 1):
            if conn is None:
                conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
                self.local.conn = conn
            try:
                conn.timeout = timeout
                if conn.sock:
                    conn.sock.settimeout(timeout)
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException, ssl.SSLError):
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                self.local.conn = None
                if attempt:
                    raise
        raise OSError("unreachable")

    def close(self):
        conn = getattr(self.local, "conn", None)
        if conn:
            conn.close()
            self.local.conn = None

    def json(self, method, path, body=None, timeout=3.0):
        st, data = self.request(method, path, body, timeout)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, None

    def status(self, timeout=1.5):
        try:
            st, j = self.json("GET", "/v1/status", timeout=timeout)
            return j if st == 200 else None
        except (OSError, http.client.HTTPException, ssl.SSLError):
            return None


# ---------------------------------------------------------------- cluster

class Cluster:
    """A devnet rewired for fault injection; starts and watches the nodes."""

    def __init__(self, n=4, want_netns=None, byzantine=False, asan=False, view_timeout_ms=1000,
                 disk_mb=128, keep=False, workdir=None, tenants=None, node_cfg=None):
        self.n = n
        self.node_cfg = node_cfg or {}       # i -> extra config.json keys
        self.extra_tenants = tenants or {}   # name -> rate_per_min (0: none), allow-all SLA
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix=f"bsec-chaos-{os.getpid()}-", dir=workdir)
        self.net = Net(n, want_netns if want_netns is not None else True)
        self.binary = BSEC_BYZ if byzantine else (BSEC_ASAN if asan else BSEC)
        self.byzantine = byzantine
        self.procs = {}
        self.expected_exit = {}     # i -> set of acceptable return codes for the current process
        self.crashes = []           # unexpected exits
        self.mounts = []
        self.disk_mb = disk_mb
        self.view_timeout_ms = view_timeout_ms
        self.relay = None
        self.lock = threading.Lock()
        self.stop_watch = threading.Event()
        self.watch_thread = None
        self.paused = set()
        self.byz_file = {}
        self.clock_file = {}
        self.filler = {}

    # ---- set-up
    def setup(self):
        sh(BSEC, "devnet", "init", "--dir", self.dir, "--nodes", self.n, "--driver", "sim",
           "--view-timeout", self.view_timeout_ms, timeout=120)
        self.net.setup()
        gpath = os.path.join(self.dir, "genesis.json")
        with open(gpath) as f:
            g = json.load(f)
        self.peer_ports, self.api_ports = [], []
        for p in g["providers"]:
            self.peer_ports.append(int(p["peer"].rsplit(":", 1)[1]))
            self.api_ports.append(int(p["api"].rsplit(":", 1)[1]))
        targets = {i: (self.net.ip(i), self.peer_ports[i]) for i in range(self.n)}
        self.relay = Relay(self.net.relay_ip, targets, self._identify)
        self.relay.start()
        if self.net.mode == "netns":
            self._reissue_certs(g)
        for name, rate in self.extra_tenants.items():
            key = os.path.join(self.dir, "tenants", f"{name}.pem")
            sh(BSEC, "keygen", "--scheme", "ed25519", "--out", key, "--pub", key + ".pub")
            with open(key + ".pub") as f:
                pub = f.read()
            g.setdefault("tenants", []).append({"name": name, "key": pub, "grants": [
                {"domain": p["name"], "ops": "*", "max_vms": 0, "max_vnfs": 0, "max_sfcs": 0, "max_chain": 0,
                 "rate_per_min": rate} for p in g["providers"]]})
        for i, p in enumerate(g["providers"]):
            p["peer"] = f"{self.net.relay_ip}:{self.relay.ports[i]}"
            p["api"] = f"https://{self.net.ip(i)}:{self.api_ports[i]}"
        with open(gpath, "w") as f:
            json.dump(g, f, indent=2)
        self.genesis = g
        self.gpath = gpath
        self.ca = os.path.join(self.dir, "ca.pem")
        self.apis = [Api(p["api"], self.ca) for p in g["providers"]]
        for i in range(self.n):
            nd = os.path.join(self.dir, f"node{i}")
            cfg_path = os.path.join(nd, "config.json")
            with open(cfg_path) as f:
                cfg = json.load(f)
            cfg["peer_listen"] = f"{self.net.ip(i)}:{self.peer_ports[i]}"
            cfg["api_listen"] = f"{self.net.ip(i)}:{self.api_ports[i]}"
            data = os.path.join(nd, "data")
            os.makedirs(data, exist_ok=True)
            if self.net.mode == "netns":
                sh("mount", "-t", "tmpfs", "-o", f"size={self.disk_mb}m,mode=0700", "tmpfs", data)
                self.mounts.append(data)
            cfg["data_dir"] = "data"
            cfg.update(self.node_cfg.get(i, {}))
            with open(cfg_path, "w") as f:
                json.dump(cfg, f, indent=2)
            self.clock_file[i] = os.path.join(nd, "clock_offset_ms")
            self.byz_file[i] = os.path.join(nd, "byzantine")
            for path in (self.clock_file[i], self.byz_file[i]):
                with open(path, "w") as f:
                    f.write("" if path == self.byz_file[i] else "0")
        self.watch_thread = threading.Thread(target=self._watch, daemon=True)
        self.watch_thread.start()

    def _reissue_certs(self, g):
        """Node certificates that also name the node's namespace address."""
        for i, p in enumerate(g["providers"]):
            tls = os.path.join(self.dir, "tls")
            key, crt, csr = (os.path.join(tls, f"p{i}-key.pem"), os.path.join(tls, f"p{i}.pem"),
                             os.path.join(tls, f"p{i}.csr"))
            ext = os.path.join(tls, f"p{i}.ext")
            with open(ext, "w") as f:
                f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth,clientAuth\n"
                        f"subjectAltName=IP:{self.net.ip(i)},IP:127.0.0.1,DNS:localhost\n")
            sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", key, "-subj", f"/CN={p['name']}", "-out", csr)
            os.chmod(key, 0o600)
            sh("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(self.dir, "ca.pem"), "-CAkey",
               os.path.join(self.dir, "ca-key.pem"), "-CAcreateserial", "-days", "7", "-sha256",
               "-extfile", ext, "-out", crt)
            with open(crt) as f:
                p["tls_cert"] = f.read()

    def _identify(self, ip, port, relay_port):
        if self.net.mode == "netns":
            if ip.startswith(self.net.prefix + "."):
                k = int(ip.rsplit(".", 1)[1]) - 1
                return k if 0 <= k < self.n else None
            return None
        pids = {i: p.pid for i, p in self.procs.items() if p.poll() is None}
        return proc_socket_owner(port, relay_port, pids)

    # ---- processes
    def start(self, i):
        nd = os.path.join(self.dir, f"node{i}")
        env = dict(os.environ, BSEC_TEST_FAULTS="1", BSEC_CLOCK_OFFSET_FILE=self.clock_file[i],
                   BSEC_BYZ_FILE=self.byz_file[i])
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        cmd = self.net.prefix_cmd(i) + [self.binary, "node", "--config", os.path.join(nd, "config.json")]
        with open(os.path.join(nd, "node.log"), "ab") as logf:
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
        with self.lock:
            self.procs[i] = p
            self.expected_exit[i] = set()
        self.paused.discard(i)

    def start_all(self):
        for i in range(self.n):
            self.start(i)
        ok = wait_until(lambda: all(self.apis[i].status() for i in range(self.n)), 30, 0.2)
        if not ok:
            raise RuntimeError("the nodes did not come up:\n" + self.logs())

    def alive(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def kill(self, i, sig=signal.SIGKILL, expect=None):
        p = self.procs.get(i)
        if not p or p.poll() is not None:
            return None
        with self.lock:
            self.expected_exit[i] = expect if expect is not None else {-sig}
        if sig == signal.SIGTERM and i in self.paused:
            os.kill(p.pid, signal.SIGCONT)
            self.paused.discard(i)
        os.kill(p.pid, sig)
        try:
            return p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with self.lock:
                self.crashes.append(f"node {i}: did not exit within 30 s of signal {sig}")
                self.expected_exit[i] = {-signal.SIGKILL}
            os.kill(p.pid, signal.SIGKILL)
            return p.wait(timeout=10)

    def pause(self, i):
        os.kill(self.procs[i].pid, signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        os.kill(self.procs[i].pid, signal.SIGCONT)
        self.paused.discard(i)

    def _watch(self):
        seen = set()
        while not self.stop_watch.is_set():
            with self.lock:
                items = list(self.procs.items())
            for i, p in items:
                rc = p.poll()
                if rc is None or id(p) in seen:
                    continue
                seen.add(id(p))
                with self.lock:
                    ok = rc in self.expected_exit.get(i, set())
                if not ok:
                    msg = f"node {i} exited unexpectedly with status {rc}"
                    say("VIOLATION " + msg)
                    with self.lock:
                        self.crashes.append(msg + "\n" + self.log_tail(i, 20))
            time.sleep(0.1)

    def set_clock(self, i, ms):
        with open(self.clock_file[i] + ".tmp", "w") as f:
            f.write(str(int(ms)))
        os.replace(self.clock_file[i] + ".tmp", self.clock_file[i])

    def set_byzantine(self, i, text):
        with open(self.byz_file[i] + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.byz_file[i] + ".tmp", self.byz_file[i])

    def fill_disk(self, i):
        data = os.path.join(self.dir, f"node{i}", "data")
        if data not in self.mounts:
            raise RuntimeError(f"{data} is not a tmpfs of the harness: refusing to fill a real disk")
        path = os.path.join(data, "filler")
        self.filler[i] = path
        chunk = b"\0" * (1 << 20)
        try:
            with open(path, "wb") as f:
                while True:
                    f.write(chunk)
                    f.flush()
        except OSError:
            pass

    def free_disk(self, i):
        path = self.filler.pop(i, None)
        if path:
            try:
                os.unlink(path)
            except OSError:
                pass

    # ---- reading
    def status(self, i, timeout=1.5):
        if i in self.paused or not self.alive(i):
            return None
        return self.apis[i].status(timeout)

    def heights(self):
        return {i: (s["height"] if s else None) for i, s in ((i, self.status(i)) for i in range(self.n))}

    def chain(self, i, upto=None, timeout=5.0):
        """[(height, hash, [tx ids])] of node i's chain from 1."""
        out = []
        h = 1
        while True:
            st, j = self.apis[i].json("GET", f"/v1/blocks?from={h}&limit=100", timeout=timeout)
            if st != 200 or not j:
                raise RuntimeError(f"node {i}: GET /v1/blocks?from={h}: HTTP {st}")
            blocks = j["blocks"]
            for b in blocks:
                out.append((b["height"], b["hash"], b["tx_ids"]))
            if not blocks or (upto and out[-1][0] >= upto) or out[-1][0] >= j["height"]:
                return out
            h = out[-1][0] + 1

    def log_tail(self, i, lines=15):
        try:
            with open(os.path.join(self.dir, f"node{i}", "node.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def logs(self, lines=12):
        return "\n".join(f"--- node{i} ---\n{self.log_tail(i, lines)}" for i in range(self.n))

    def scan_logs(self):
        bad = []
        for i in range(self.n):
            try:
                with open(os.path.join(self.dir, f"node{i}", "node.log"), errors="replace") as f:
                    for k, line in enumerate(f):
                        if CRASH_PATTERNS.search(line):
                            bad.append(f"node{i}/node.log:{k + 1}: {line.strip()[:200]}")
            except OSError:
                pass
        return bad

    # ---- tear-down
    def stop_all(self):
        """SIGTERM every node (each must exit 0)."""
        for i in range(self.n):
            if self.alive(i):
                self.kill(i, signal.SIGTERM, expect={0})

    def destroy(self):
        self.stop_watch.set()
        for i, p in list(self.procs.items()):
            if p.poll() is None:
                with self.lock:
                    self.expected_exit[i] = {p.returncode, -9, 0, None}
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        if self.relay:
            self.relay.stop()
        for m in self.mounts:
            sh("umount", "-l", m, check=False)
        self.mounts = []
        self.net.teardown()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- load

class Load:
    """Client threads: each signs REQUESTs with `bsec tx request` (one
    process per tx), posts them to a random live node (another one when
    refused), and a follower reads committed blocks to learn which txs
    committed at which height.  A tx not committed after `retry_s` is
    posted again (same bytes) to another node, as a real client would."""

    def __init__(self, cl, rate=20.0, threads=3, retry_s=15.0, key=None, tag="c"):
        self.cl = cl
        self.rate = rate
        self.nthreads = threads
        self.retry_s = retry_s
        self.key = key or os.path.join(cl.dir, "tenants", "demo.pem")
        self.tag = tag
        self.stop = threading.Event()          # clients
        self.stop_follow = threading.Event()   # the block follower
        self.lock = threading.Lock()
        self.mine = set()       # ids this load signed
        self.pending = {}       # id -> [raw, first submit time, last submit time, tries, node]
        self.committed = {}     # id -> (height, time seen)
        self.refused = collections.Counter()
        self.accepted = 0
        self.threads = []
        self.follow_height = 0
        self.tmp = tempfile.mkdtemp(prefix="load-", dir=cl.dir)

    def start(self):
        for k in range(self.nthreads):
            t = threading.Thread(target=self._client, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        self.follower = threading.Thread(target=self._follow, daemon=True)
        self.follower.start()

    def drain(self, timeout=30.0):
        """Stops submitting new txs; resubmits the pending ones (to other
        nodes) until each is seen committed or timeout passes.  Returns
        the ids still pending."""
        self.stop.set()
        for t in self.threads:
            t.join(20)
        rnd = random.Random(5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                todo = [(t, v) for t, v in self.pending.items() if time.monotonic() - v[2] > 5]
                left = len(self.pending)
            if not left:
                break
            for t, v in todo:
                j = self._post(v[0], rnd, avoid=v[4])
                with self.lock:
                    v[2] = time.monotonic()
                    if j is not None:
                        v[4] = j
            time.sleep(0.3)
        with self.lock:
            return list(self.pending)

    def finish(self):
        self.stop.set()
        self.stop_follow.set()
        for t in self.threads + [getattr(self, "follower", None)]:
            if t:
                t.join(20)

    def _sign(self, k, seq):
        path = os.path.join(self.tmp, f"{k}.bin")
        p = subprocess.run([BSEC, "tx", "request", "--key", self.key, "--genesis", self.cl.gpath,
                            "--domain", f"p{seq % self.cl.n}", "--instruction",
                            f"vm create {self.tag}{k}-{seq}", "--out", path, "--json"],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            raise RuntimeError(p.stderr)
        j = json.loads(p.stdout)
        return j["id"], bytes.fromhex(j["raw_hex"])

    def _post(self, raw, rnd, avoid=None):
        order = list(range(self.cl.n))
        rnd.shuffle(order)
        if avoid is not None and avoid in order:
            order.remove(avoid)
            order.append(avoid)
        for i in order:
            if i in self.cl.paused or not self.cl.alive(i):
                continue
            try:
                st, body = self.cl.apis[i].request("POST", "/v1/transactions", raw, timeout=2.0,
                                                   headers={"Content-Type": "application/octet-stream"})
            except (OSError, http.client.HTTPException, ssl.SSLError):
                self.refused["unreachable"] += 1
                continue
            if st in (200, 202):
                return i
            try:
                code = json.loads(body).get("error", str(st))
            except ValueError:
                code = str(st)
            with self.lock:
                self.refused[code] += 1
        return None

    def _client(self, k):
        rnd = random.Random(k * 7919 + 1)
        seq = 0
        interval = self.nthreads / self.rate if self.rate > 0 else 1.0
        nxt = time.monotonic()
        while not self.stop.is_set():
            nxt += interval
            seq += 1
            try:
                txid, raw = self._sign(k, seq)
            except Exception:
                time.sleep(0.2)
                continue
            with self.lock:
                self.mine.add(txid)
            i = self._post(raw, rnd)
            now = time.monotonic()
            if i is not None:
                with self.lock:
                    if txid not in self.committed:
                        self.pending[txid] = [raw, now, now, 1, i]
                    self.accepted += 1
            # resubmit old pending txs
            with self.lock:
                stale = [(t, v) for t, v in self.pending.items() if now - v[2] > self.retry_s and v[3] < 4]
            for t, v in stale[:5]:
                j = self._post(v[0], rnd, avoid=v[4])
                with self.lock:
                    if t in self.pending:
                        v[2] = time.monotonic()
                        v[3] += 1
                        if j is not None:
                            v[4] = j
            d = nxt - time.monotonic()
            if d > 0:
                self.stop.wait(d)
            else:
                nxt = time.monotonic()

    def _follow(self):
        """Long-polls committed blocks from any live node."""
        rnd = random.Random(99)
        h = 1
        while not self.stop_follow.is_set():
            cands = [i for i in range(self.cl.n) if i not in self.cl.paused and self.cl.alive(i)]
            if not cands:
                time.sleep(0.2)
                continue
            i = rnd.choice(cands)
            try:
                st, j = self.cl.apis[i].json("GET", f"/v1/blocks?from={h}&limit=100&wait=1000", timeout=3.0)
            except (OSError, http.client.HTTPException, ssl.SSLError):
                time.sleep(0.1)
                continue
            if st != 200 or not j:
                time.sleep(0.1)
                continue
            now = time.monotonic()
            for b in j["blocks"]:
                with self.lock:
                    for t in b["tx_ids"]:
                        if t in self.mine and t not in self.committed:
                            self.pending.pop(t, None)
                            self.committed[t] = (b["height"], now)
                h = b["height"] + 1
            self.follow_height = h - 1

    def commits_since(self, t):
        with self.lock:
            return sum(1 for v in self.committed.values() if v[1] > t)

    def snapshot(self):
        with self.lock:
            return dict(self.committed), dict((k, v[1]) for k, v in self.pending.items())


class BenchLoad:
    """`bsec bench load` in chunks (it pre-signs, so a chunk must commit
    well within the timestamp window): volume, not checked."""

    def __init__(self, cl, rate):
        self.cl, self.rate = cl, rate
        self.stop = threading.Event()
        self.proc = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        if self.rate > 0:
            self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.proc = subprocess.Popen([BSEC, "bench", "load", "--dir", self.cl.dir, "--count",
                                          str(int(self.rate * 20)), "--rate", str(self.rate), "--threads", "2"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while self.proc.poll() is None and not self.stop.is_set():
                time.sleep(0.2)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()

    def finish(self):
        self.stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.thread.is_alive():
            self.thread.join(10)


# ---------------------------------------------------------------- faults

class Chaos:
    def __init__(self, cl, load, seed, faults, recovery_bound=30.0, min_dur=2.0, max_dur=6.0):
        self.cl = cl
        self.load = load
        self.rnd = random.Random(seed)
        self.seed = seed
        self.faults = faults
        self.bound = recovery_bound
        self.min_dur, self.max_dur = min_dur, max_dur
        self.results = []          # one dict per fault
        self.violations = []
        self.byz_nodes = set()
        self.tainted = set()       # wrong-key culprits: their own certificates hold their bad votes
        self.skipped = {}

    def leader(self):
        votes = collections.Counter()
        for i in range(self.cl.n):
            s = self.cl.status(i)
            if s:
                votes[s["leader"]] += 1
        return votes.most_common(1)[0][0] if votes else 0

    def available(self, kind):
        if kind in ("rate", "disk") and self.cl.net.mode != "netns":
            return f"needs root and network namespaces ({self.cl.net.why_local})"
        if kind == "byzantine" and not self.cl.byzantine:
            return "needs --byzantine (build/byz/bsec)"
        return None

    def plan(self, seconds, each_once=False):
        kinds = []
        for k in self.faults:
            why = self.available(k)
            if why:
                self.skipped[k] = why
            else:
                kinds.append(k)
        if each_once:
            seq = kinds[:]
            self.rnd.shuffle(seq)
            return seq
        return kinds

    # ---- one fault
    def run_one(self, kind):
        cl, n = self.cl, self.cl.n
        dur = round(self.rnd.uniform(self.min_dur, self.max_dur), 1)
        victim = self.rnd.randrange(n)
        info = {"kind": kind, "duration_s": dur}
        heal = None
        expect_progress = True
        if kind == "kill":
            if self.rnd.random() < 0.5:
                victim = self.leader()
            info["node"] = victim
            cl.kill(victim, signal.SIGKILL)

            def heal():
                cl.start(victim)
        elif kind == "stop":
            if self.rnd.random() < 0.5:
                victim = self.leader()
            info["node"] = victim
            cl.pause(victim)

            def heal():
                cl.resume(victim)
        elif kind in ("isolate", "split"):
            if kind == "isolate":
                a = {victim}
                info["node"] = victim
            else:
                order = list(range(n))
                self.rnd.shuffle(order)
                a = set(order[:n // 2])
                expect_progress = n - len(a) >= n - (n - 1) // 3 and len(a) >= n - (n - 1) // 3
                info["groups"] = [sorted(a), sorted(set(range(n)) - a)]
            pairs = {(i, j) for i in range(n) for j in range(n) if i != j and ((i in a) != (j in a))}
            self._cut(pairs)

            def heal():
                self._cut(set())
        elif kind == "delay":
            ms = self.rnd.choice([100, 250, 500, 1000])
            scope = self.rnd.choice(["node", "all"])
            info.update(delay_ms=ms, scope=scope)
            if scope == "node":
                info["node"] = victim
                keys = [(victim, None), (None, victim)]
            else:
                keys = [(None, None)]
            for k in keys:
                cl.relay.set_delay(k, ms)

            def heal():
                for k2 in keys:
                    cl.relay.set_delay(k2, 0)
        elif kind == "flaky":
            info["node"] = victim
            info["resets_per_s"] = 2
            cl.relay.set_flaky(victim, 2)

            def heal():
                cl.relay.set_flaky(victim, 0)
        elif kind == "rate":
            kbit = self.rnd.choice([128, 512, 2048])
            info.update(node=victim, kbit=kbit)
            cl.net.set_rate(victim, kbit)

            def heal():
                cl.net.set_rate(victim, 0)
        elif kind == "skew":
            window = cl.genesis["params"]["timestamp_window_ms"]
            off = self.rnd.choice([-1, 1]) * self.rnd.choice([window // 10, window // 3, window * 3 // 4])
            if self.rnd.random() < 0.5:
                victim = self.leader()
            info.update(node=victim, offset_ms=off)
            cl.set_clock(victim, off)
            dur = max(dur, 3.0)

            def heal():
                cl.set_clock(victim, 0)
        elif kind == "disk":
            info["node"] = victim
            cl.fill_disk(victim)
            t_full = time.monotonic()
            # under load the node must notice and say so (healthy=false, 503 on POST)
            seen = wait_until(lambda: (cl.status(victim) or {}).get("healthy") is False, 20, 0.2)
            info["reported_unhealthy"] = bool(seen)
            info["detected_after_s"] = round(time.monotonic() - t_full, 2) if seen else None
            if seen:
                try:
                    st, body = cl.apis[victim].request("POST", "/v1/transactions", b"\x01",
                                                       headers={"Content-Type": "application/octet-stream"})
                    info["post_status"] = st
                    if st != 503:
                        self.violation(f"disk full on node {victim}: POST gave {st}, not 503")
                except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                    info["post_status"] = str(e)
            else:
                self.violation(f"disk full on node {victim}: /v1/status still says healthy after "
                               f"20 s under load")
            dur = 0

            def heal():
                cl.kill(victim, signal.SIGTERM, expect={0})
                cl.free_disk(victim)
                cl.start(victim)
        elif kind == "byzantine":
            if self.rnd.random() < 0.5:
                beh = self.rnd.choice(LEADER_BEHAVIOURS)
                victim = self.leader()
            else:
                beh = self.rnd.choice(REPLICA_BEHAVIOURS)
            text = beh
            if beh == "censor":
                text = "censor=" + self._demo_key_hex()[:16]
            info.update(node=victim, behaviour=beh)
            self.byz_nodes.add(victim)
            if beh == "wrong-key":
                self.tainted.add(victim)
            cl.set_byzantine(victim, text)
            dur = max(dur, 4.0)

            def heal():
                cl.set_byzantine(victim, "")
        else:
            raise ValueError(kind)
        say(f"fault {kind} {json.dumps({k: v for k, v in info.items() if k != 'kind'})}")
        t_fault = time.monotonic()
        h_fault = max([h for h in cl.heights().values() if h is not None] or [0])
        time.sleep(dur)
        commits_during = self.load.commits_since(t_fault)
        h_during = max([h for h in cl.heights().values() if h is not None] or [0])
        heal()
        t_heal = time.monotonic()
        info["commits_during"] = commits_during
        info["progress_during"] = h_during > h_fault
        info["expect_progress"] = expect_progress
        rec = self.recover(t_heal)
        info["recovery_s"] = rec
        if rec is None:
            self.violation(f"{kind}: commits did not resume within {self.bound:.0f} s of the heal\n"
                           + cl.logs(8))
        self.check_prefix(f"after {kind}")
        self.results.append(info)
        say(f"  healed; recovered in {rec if rec is None else round(rec, 2)} s, "
            f"{commits_during} client commits during the fault")

    def _cut(self, pairs):
        cl = self.cl
        if cl.net.mode == "netns":
            cl.net.cut(pairs, cl.relay.ports)
        else:
            cl.relay.set_blocked(pairs)

    def _demo_key_hex(self):
        for t in self.cl.genesis.get("tenants", []):
            if t["name"] == "demo":
                p = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=t["key"].encode(),
                                   capture_output=True, timeout=10)
                return p.stdout[-32:].hex()
        return "00"

    def recover(self, t_heal):
        """Seconds until every node is past the height reached at the heal
        (and answers), or None past the bound."""
        cl = self.cl
        hs = [h for h in cl.heights().values() if h is not None]
        target = (max(hs) if hs else 0) + 1

        def done():
            st = [cl.status(i) for i in range(cl.n)]
            if all(s and s["height"] >= target and s.get("healthy", True) for s in st):
                return True
            return False
        ok = wait_until(done, self.bound, 0.1)
        return time.monotonic() - t_heal if ok else None

    def check_prefix(self, when):
        """Same hash at every node's lowest common height (cheap, per fault)."""
        cl = self.cl
        sts = {i: cl.status(i) for i in range(cl.n)}
        hs = [s["height"] for s in sts.values() if s]
        if not hs or min(hs) == 0:
            return
        h = min(hs)
        hashes = {}
        for i, s in sts.items():
            if not s:
                continue
            try:
                st, b = cl.apis[i].json("GET", f"/v1/blocks/{h}")
            except (OSError, http.client.HTTPException, ssl.SSLError):
                continue
            if st == 200:
                hashes[i] = b["hash"]
        if len(set(hashes.values())) > 1:
            self.violation(f"{when}: nodes disagree on block {h}: {hashes}")

    def violation(self, msg):
        say("VIOLATION " + msg.splitlines()[0])
        self.violations.append(msg)

    # ---- final checks
    def final_checks(self, settle=30.0):
        cl = self.cl
        honest = [i for i in range(cl.n) if i not in self.byz_nodes]
        # all converge to one tip
        def converged():
            sts = [cl.status(i) for i in range(cl.n)]
            if any(s is None for s in sts):
                return None
            tips = {(s["height"], s["tip_hash"]) for s in sts}
            return tips.pop() if len(tips) == 1 else None
        # let the followers see the last commits, then stop the load
        tip = wait_until(converged, settle, 0.2)
        if not tip:
            self.violation("the nodes did not converge to one tip at the end:\n"
                           + json.dumps({i: cl.status(i) for i in range(cl.n)}) + "\n" + cl.logs(8))
        chains = {}
        for i in range(cl.n):
            try:
                chains[i] = cl.chain(i)
            except (RuntimeError, OSError, http.client.HTTPException, ssl.SSLError) as e:
                self.violation(f"cannot read node {i}'s chain: {e}")
        # block-by-block agreement.  The harness's Byzantine behaviours only
        # corrupt what a node sends, never what it stores, so every node's
        # chain must agree, culprits' too; a node that was never a culprit
        # is checked first so that a disagreement names the deviant.
        ref = {}
        byz_disagree = []
        for i in honest + sorted(self.byz_nodes):
            for h, hsh, _ in chains.get(i, []):
                if h in ref and ref[h][1] != hsh:
                    self.violation(f"SAFETY: node {i} has block {h} = {hsh[:16]}, node {ref[h][0]} has "
                                   f"{ref[h][1][:16]}")
                    if i in self.byz_nodes:
                        byz_disagree.append(i)
                    break
                ref.setdefault(h, (i, hsh))
        # every tx a client saw committed: same height on every node
        committed, pending = self.load.snapshot()
        where = {}
        for i, ch in chains.items():
            where[i] = {t: h for h, _, ids in ch for t in ids}
        missing = 0
        for t, (h, _) in committed.items():
            for i in chains:
                if where[i].get(t) != h:
                    missing += 1
                    if missing <= 5:
                        self.violation(f"tx {t[:16]} committed at height {h} is at {where[i].get(t)} on node {i}")
        return {"final_height": tip[0] if tip else None, "blocks_checked": len(ref),
                "nodes_compared": len(chains),
                "client_txs_committed": len(committed), "client_txs_missing_somewhere": missing,
                "client_txs_never_committed": len(pending), "byzantine_nodes_disagreeing": byz_disagree}


def audit_all(cl):
    out = {}
    for i in range(cl.n):
        data = os.path.join(cl.dir, f"node{i}", "data")
        p = subprocess.run([BSEC, "audit", "verify", "--data-dir", data, "--genesis", cl.gpath, "--json"],
                           capture_output=True, text=True, timeout=300)
        try:
            j = json.loads(p.stdout)
        except ValueError:
            j = {"ok": False, "error": p.stderr.strip()[-300:]}
        # the nodes are stopped: their derived rows (objects, tenants, open
        # requests, attestations) must match the replayed chain, not be skipped
        out[i] = {"exit": p.returncode, "blocks": j.get("blocks"), "derived_rows": j.get("derived_rows"),
                  "ok": bool(j.get("ok")) and p.returncode == 0 and j.get("derived_rows") == "same"}
        if not out[i]["ok"]:
            out[i]["reason"] = j.get("reason") or j.get("error") or j.get("derived_note")
            out[i]["bad_height"] = j.get("bad_height")
    return out


def run(args):
    """One chaos run; returns the report (dict)."""
    global QUIET
    QUIET = args.quiet
    faults = [f for f in args.faults.split(",") if f] if args.faults else list(ALL_FAULTS)
    for f in faults:
        if f not in ALL_FAULTS:
            raise SystemExit(f"unknown fault `{f}' (known: {', '.join(ALL_FAULTS)})")
    if "byzantine" in faults and not args.byzantine:
        faults.remove("byzantine")
    for b in [BSEC] + ([BSEC_BYZ] if args.byzantine else []) + ([BSEC_ASAN] if args.asan else []):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"{b} is not built")
    cl = Cluster(n=args.nodes, want_netns=not args.no_netns, byzantine=args.byzantine, asan=args.asan,
                 view_timeout_ms=args.view_timeout, disk_mb=args.disk_mb, keep=args.keep)
    report = {"seed": args.seed, "seconds": args.seconds, "nodes": args.nodes, "mode": cl.net.mode,
              "binary": os.path.relpath(cl.binary, ROOT), "dir": cl.dir}
    if cl.net.mode != "netns":
        report["note"] = (f"process-level faults, relay delays and relay-level partitions only: "
                          f"{cl.net.why_local}")
    load = bench = None
    stop_requested = []

    def on_signal(sig, frame):
        stop_requested.append(sig)
        raise KeyboardInterrupt
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    t_start = time.monotonic()
    try:
        say(f"devnet of {args.nodes} nodes in {cl.dir} ({cl.net.mode} mode"
            + (f": {cl.net.why_local}" if cl.net.why_local else "") + ")")
        cl.setup()
        cl.start_all()
        load = Load(cl, rate=args.rate, threads=args.client_threads, retry_s=args.retry)
        load.start()
        bench = BenchLoad(cl, args.bench_rate)
        bench.start()
        ch = Chaos(cl, load, args.seed, faults, recovery_bound=args.recovery_bound,
                   min_dur=args.min_fault, max_dur=args.max_fault)
        kinds = ch.plan(args.seconds, each_once=args.each_once)
        for k, why in ch.skipped.items():
            say(f"skipping fault `{k}': {why}")
        if not wait_until(lambda: load.commits_since(0) >= 3, 30, 0.2):
            ch.violation("no client tx committed within 30 s of start:\n" + cl.logs())
        deadline = t_start + args.seconds
        if args.each_once:
            for k in kinds:
                ch.run_one(k)
                time.sleep(args.gap)
        else:
            while kinds and time.monotonic() + args.max_fault + 5 < deadline:
                ch.run_one(ch.rnd.choice(kinds))
                time.sleep(args.gap)
        # stop submitting; every tx a node accepted must commit (resubmitted
        # to another node if need be, as a client would)
        bench.finish()
        lost = load.drain(30)
        load.finish()
        if lost:
            ch.violation(f"{len(lost)} accepted txs never committed (e.g. {lost[0]})")
        report["checks"] = ch.final_checks()
        cl.stop_all()
        report["audit"] = audit_all(cl)
        for i, a in report["audit"].items():
            if not a["ok"] and i in ch.tainted and "certificate signature" in (a.get("reason") or ""):
                a["note"] = "the wrong-key culprit's own certificates carry its own bad votes"
            elif not a["ok"]:
                ch.violation(f"node {i}: bsec audit verify failed: {a}")
        report["log_findings"] = cl.scan_logs()
        for f in report["log_findings"]:
            ch.violation("log: " + f)
        with cl.lock:
            for c in cl.crashes:
                ch.violations.append("crash: " + c)
        report["faults"] = ch.results
        report["skipped"] = ch.skipped
        report["summary"] = summarize(ch.results)
        report["client"] = {"accepted": load.accepted, "refused": dict(load.refused)}
        report["relay_unidentified_links"] = cl.relay.unidentified
        report["violations"] = ch.violations
    except KeyboardInterrupt:
        report["violations"] = ["interrupted"]
    except Exception as e:   # a harness failure is a failed run, with the reason
        import traceback
        report["violations"] = report.get("violations", []) + [f"harness error: {e}\n{traceback.format_exc()}"
                                                               + "\n" + cl.logs(10)]
    finally:
        for o in (load, bench):
            if o:
                o.finish()
        cl.destroy()
        for s, h in old.items():
            signal.signal(s, h)
    report["elapsed_s"] = round(time.monotonic() - t_start, 1)
    return report


def summarize(results):
    by = collections.OrderedDict()
    for r in results:
        k = r["kind"] + (f"/{r['behaviour']}" if r.get("behaviour") else "")
        e = by.setdefault(k, {"runs": 0, "recovered": 0, "recovery_s": []})
        e["runs"] += 1
        if r.get("recovery_s") is not None:
            e["recovered"] += 1
            e["recovery_s"].append(r["recovery_s"])
    for e in by.values():
        rs = e.pop("recovery_s")
        e["recovery_median_s"] = round(statistics.median(rs), 2) if rs else None
        e["recovery_max_s"] = round(max(rs), 2) if rs else None
    return by


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--faults", default="", help="comma list of " + ",".join(ALL_FAULTS))
    ap.add_argument("--each-once", action="store_true", help="every enabled fault once, in seeded order")
    ap.add_argument("--byzantine", action="store_true", help="run build/byz/bsec and include Byzantine faults")
    ap.add_argument("--no-netns", action="store_true", help="loopback only, even as root")
    ap.add_argument("--asan", action="store_true", help="run build/asan/bsec nodes")
    ap.add_argument("--rate", type=float, default=20, help="client txs per second (checked)")
    ap.add_argument("--client-threads", type=int, default=3)
    ap.add_argument("--bench-rate", type=float, default=0, help="extra `bench load` txs per second")
    ap.add_argument("--retry", type=float, default=15, help="resubmit a tx not committed after S seconds")
    ap.add_argument("--view-timeout", type=int, default=1000)
    ap.add_argument("--recovery-bound", type=float, default=30)
    ap.add_argument("--min-fault", type=float, default=2)
    ap.add_argument("--max-fault", type=float, default=8)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between faults")
    ap.add_argument("--disk-mb", type=int, default=128)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--report", help="also write the JSON report here")
    return ap


def main():
    args = parser().parse_args()
    rep = run(args)
    text = json.dumps(rep, indent=2)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    ok = not rep.get("violations")
    print(f"chaos: {'OK' if ok else 'FAILED'}: {len(rep.get('faults', []))} faults, "
          f"{len(rep.get('violations', []))} violations, seed {args.seed}, mode {rep.get('mode')}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
