"""kms-scraper following a Kubernetes headless Service (--resolve-interval): a name that resolves
to one address per Kepler pod, each address scraped as its own target, the set following the
answers.

The resolver is real: Debian's dnsmasq answers for kepler.fleet.test from a hosts file that the
test rewrites (SIGHUP makes dnsmasq read it again). It runs in a network namespace of the
test's own, whose resolv.conf names it: `ip netns exec` mounts /etc/netns/<name>/resolv.conf
over /etc/resolv.conf for the scraper, which looks names up with the C library as in a pod.
The test process enters that namespace too, so that everything it starts, and its own HTTP
requests and subscriber, are on the namespace's loopback: a kepler-sim on each of 127.0.0.2,
.3, ... at one port, as pods are on one port at their own addresses."""
import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from kmstest import SLOWDOWN, ProcessTestCase, Subscriber, prom_scrape, wait_for

NAME = "kepler.fleet.test"
NETNS = f"kms-discovery-{os.getpid()}"
DNSMASQ = "/usr/sbin/dnsmasq"  # Debian's dnsmasq-base
RESOLVE_INTERVAL = 0.3
LIMIT = 1024  # the scraper's bound on targets (S_MAX_TARGETS in services/scraper/scraper.c)
CLONE_NEWNET = 0x40000000
HOSTS = f"/etc/netns/{NETNS}/hosts"  # the scraper's /etc/hosts
LOCALHOST = "127.0.0.1 localhost\n"


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root for a network namespace of its own (ip netns add)")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    os.makedirs(f"/etc/netns/{NETNS}", exist_ok=True)
    with open(f"/etc/netns/{NETNS}/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    with open(HOSTS, "w") as f:
        f.write(LOCALHOST)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(f"/run/netns/{NETNS}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def tearDownModule():
    subprocess.run(["ip", "netns", "del", NETNS], check=False)
    shutil.rmtree(f"/etc/netns/{NETNS}", ignore_errors=True)


class TestHeadlessService(ProcessTestCase):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)  # dnsmasq reads the hosts file as nobody
        self.hosts = os.path.join(self.tmp, "fleet.hosts")
        self.answer([])
        self.dns = subprocess.Popen([DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
                                     f"--addn-hosts={self.hosts}", "--listen-address=127.0.0.1",
                                     "--bind-interfaces", "--port=53", "--pid-file", "--log-facility=-"],
                                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "dnsmasq.log"), "w"))
        self.addCleanup(self.stop_dns)
        wait_for(lambda: "read " in self.dns_log(), what="dnsmasq reading its hosts file")
        self.port = 19102
        self.sims = {}
        self.scraper = self.start("kms-scraper", "--kepler-url", f"http://{NAME}:{self.port}/metrics",
                                  "--resolve-interval", RESOLVE_INTERVAL, "--interval", 0.25,
                                  "--publish", "@tcp://127.0.0.1:*", "--metrics-port", 0,
                                  wrapper=["ip", "netns", "exec", NETNS])
        self.metrics_port = self.scraper.logged_port("metrics")
        self.sub = Subscriber(self.scraper.logged_port("samples"), topic=b"kepler.node")
        self.addCleanup(self.sub.close)

    def stop_dns(self):
        if self.dns.poll() is None:
            self.dns.terminate()
            self.dns.wait(10)

    def dns_log(self):
        with open(os.path.join(self.tmp, "dnsmasq.log")) as f:
            return f.read()

    def answer(self, addresses):
        """The name's records from now on; dnsmasq is told to read them again."""
        with open(self.hosts + ".new", "w") as f:
            f.writelines(f"{a} {NAME}\n" for a in addresses)
        os.chmod(self.hosts + ".new", 0o644)
        os.replace(self.hosts + ".new", self.hosts)
        if getattr(self, "dns", None):
            reads = self.dns_log().count("read ")
            self.dns.send_signal(signal.SIGHUP)
            wait_for(lambda: self.dns_log().count("read ") > reads, what="dnsmasq reading its hosts file again")

    def serve(self, *addresses, node=None):
        """A kepler-sim at each address, all on one port, each its own node (or all `node`)."""
        for a in addresses:
            self.sims[a] = self.start("kepler-sim", "--listen", a, "--port", self.port, "--node-name",
                                      node or f"node-{a}", "--seed", a.rsplit(".", 1)[1], "--containers", 2)
            self.sims[a].logged_port()

    def url(self, address):
        return f"http://{address}:{self.port}/metrics"

    def metrics(self):
        return prom_scrape(self.metrics_port)[0]

    def targets(self):
        return {m.group(1) for series in self.metrics()
                if (m := re.match(r'kms_scraper_scrapes_total\{target="([^"]+)"\}', series))}

    def lookups(self, outcome):
        return self.metrics()[f'kms_scraper_lookups_total{{outcome="{outcome}"}}']

    def wait_targets(self, addresses, timeout=10.0):
        want = {self.url(a) for a in addresses}
        wait_for(lambda: self.targets() == want, timeout=timeout * SLOWDOWN,
                 what=f"targets {sorted(want)} (have {sorted(self.targets())})")

    def nodes_publishing(self, nodes, seconds=15.0):
        """Waits for a node sample of each of `nodes`; returns the nodes seen."""
        want = {f"node-{a}" for a in nodes}
        got = self.sub.collect(seconds, until=lambda got: want <= {s["node"] for s in got})
        return {s["node"] for s in got}

    def test_each_address_of_the_name_is_scraped_as_its_own_node(self):
        self.serve("127.0.0.2", "127.0.0.3", "127.0.0.4")
        self.answer(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        self.wait_targets(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        seen = self.nodes_publishing(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        self.assertEqual(seen, {"node-127.0.0.2", "node-127.0.0.3", "node-127.0.0.4"})
        self.assertEqual(self.metrics()["kms_scraper_targets"], 3)

    def test_an_address_that_leaves_the_answer_leaves_the_targets_and_a_new_one_joins(self):
        self.serve("127.0.0.2", "127.0.0.3")
        self.answer(["127.0.0.2", "127.0.0.3"])
        self.wait_targets(["127.0.0.2", "127.0.0.3"])
        self.nodes_publishing(["127.0.0.2", "127.0.0.3"])
        before = self.metrics()[f'kms_scraper_intervals_without_sample_total{{target="{self.url("127.0.0.2")}"}}']
        # A pod going away: out of the Service's records first, then stopped; another one comes.
        self.answer(["127.0.0.2", "127.0.0.4"])
        self.sims["127.0.0.3"].stop()
        self.serve("127.0.0.4")
        self.wait_targets(["127.0.0.2", "127.0.0.4"])
        out = self.scraper.output()
        self.assertIn(f'msg="target left" name={NAME} target={self.url("127.0.0.3")}', out)
        self.assertIn(f'msg="target joined" name={NAME} target={self.url("127.0.0.4")}', out)
        self.sub.collect(0.5)  # what was in flight
        seen = self.nodes_publishing(["127.0.0.2", "127.0.0.4"])
        self.assertIn("node-127.0.0.4", seen)
        self.assertNotIn("node-127.0.0.3", seen)
        # The target that stayed kept its last page: no interval of it went without a sample.
        after = self.metrics()[f'kms_scraper_intervals_without_sample_total{{target="{self.url("127.0.0.2")}"}}']
        self.assertEqual(after, before)

    def test_a_name_that_resolves_to_nothing_or_a_dead_resolver_keeps_the_last_targets(self):
        self.serve("127.0.0.2", "127.0.0.3")
        self.answer(["127.0.0.2", "127.0.0.3"])
        self.wait_targets(["127.0.0.2", "127.0.0.3"])
        self.answer([])  # the name is gone (NXDOMAIN)
        missing = self.lookups("failed") + self.lookups("empty")
        wait_for(lambda: self.lookups("failed") + self.lookups("empty") >= missing + 3, timeout=10 * SLOWDOWN,
                 what="lookups of a name that is gone")
        self.assertEqual(self.targets(), {self.url("127.0.0.2"), self.url("127.0.0.3")})
        self.stop_dns()  # no resolver at all: each lookup times out (resolv.conf: 1 s, once)
        failed = self.lookups("failed")
        wait_for(lambda: self.lookups("failed") >= failed + 2, timeout=15 * SLOWDOWN,
                 what="lookups failing without a resolver")
        self.assertEqual(self.targets(), {self.url("127.0.0.2"), self.url("127.0.0.3")})
        self.sub.collect(0.3)
        seen = self.nodes_publishing(["127.0.0.2", "127.0.0.3"])
        self.assertEqual(seen, {"node-127.0.0.2", "node-127.0.0.3"})
        self.assertIn('msg="lookup gave no address, the last targets stay"', self.scraper.output())

    def test_a_name_of_100000_addresses_is_cut_to_the_bound_and_recovers(self):
        self.serve("127.0.0.2")
        self.answer(["127.0.0.2"])
        self.wait_targets(["127.0.0.2"])
        # Over DNS: 2,000 records, more than a UDP answer holds (the C library asks again over TCP).
        self.answer(["127.0.0.2"] + self.addresses(2000))
        wait_for(lambda: self.lookups("over_limit") >= 1, timeout=20 * SLOWDOWN, what="a lookup of 2,000 records")
        wait_for(lambda: self.metrics()["kms_scraper_targets"] == LIMIT, timeout=10 * SLOWDOWN,
                 what=f"{LIMIT} targets")
        # 100,000 addresses: no DNS answer holds that many (64 KiB at most), the hosts file does
        # (dnsmasq takes minutes to read so many records of one name). Written in place: the
        # scraper sees it through the bind mount of `ip netns exec`.
        over = self.lookups("over_limit")
        self.addCleanup(self.write_hosts, LOCALHOST)
        self.write_hosts("".join(f"{a} {NAME}\n" for a in self.addresses(100_000)))
        started = time.monotonic()
        wait_for(lambda: self.lookups("over_limit") >= over + 3, timeout=30 * SLOWDOWN,
                 what="lookups of 100,000 addresses")
        lookup_s = (time.monotonic() - started) / 3
        self.assertEqual(self.metrics()["kms_scraper_targets"], LIMIT)
        self.assertIn("addresses=100000 kept=1024", self.scraper.output())
        self.write_hosts(LOCALHOST)
        started = time.monotonic()
        self.answer(["127.0.0.2"])
        self.wait_targets(["127.0.0.2"], timeout=30)
        print(f"\n2,000 records over DNS and 100,000 in the hosts file: cut to {LIMIT} targets "
              f"(at most {lookup_s:.2f} s a lookup); back to one target in {time.monotonic() - started:.1f} s")
        self.sub.collect(0.5)
        self.assertEqual(self.nodes_publishing(["127.0.0.2"]), {"node-127.0.0.2"})

    @staticmethod
    def write_hosts(text):
        with open(HOSTS, "w") as f:
            f.write(text)

    @staticmethod
    def addresses(count):
        """`count` loopback addresses where nothing listens (127.1.0.0 on)."""
        return [f"127.{1 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count)]

    def test_two_targets_that_name_one_node_publish_it_once(self):
        # Two Keplers given one node name: the trainer tells publishers apart by node name, so
        # both publishing would interleave two machines as one node.
        self.serve("127.0.0.2", "127.0.0.3", node="twin")
        self.answer(["127.0.0.2", "127.0.0.3"])
        self.wait_targets(["127.0.0.2", "127.0.0.3"])
        claimed = 'kms_scraper_node_claimed_total{{target="{}"}}'
        wait_for(lambda: max(self.metrics()[claimed.format(self.url(a))] for a in ("127.0.0.2", "127.0.0.3")) >= 4,
                 timeout=10 * SLOWDOWN, what="pages of a node another target gives, counted")
        counts = {a: self.metrics()[claimed.format(self.url(a))] for a in ("127.0.0.2", "127.0.0.3")}
        first, second = sorted(counts, key=counts.get)
        self.assertEqual(counts[first], 0, counts)
        self.sub.collect(0.3)
        twins = [s for s in self.sub.collect(3) if s["node"] == "twin"]
        self.assertGreaterEqual(len(twins), 4)
        gaps = [b["ts"] - a["ts"] for a, b in zip(twins, twins[1:])]
        self.assertGreater(min(gaps), 0.125, f"one sample per cycle, not two: {gaps}")
        self.assertIn('msg="node named by another target\'s pages too, no sample"', self.scraper.output())
        # The one that gave the name leaves: the other's pages give it from then on.
        self.answer([second])
        self.sims[first].stop()
        self.wait_targets([second])
        before = self.metrics()[claimed.format(self.url(second))]
        self.sub.collect(0.5)
        self.assertTrue([s for s in self.sub.collect(3) if s["node"] == "twin"], "the twin goes on")
        self.assertEqual(self.metrics()[claimed.format(self.url(second))], before)

    def test_a_flapping_answer_settles_on_the_last_one(self):
        self.serve("127.0.0.2", "127.0.0.3", "127.0.0.4")
        for i in range(12):
            self.answer(["127.0.0.2", "127.0.0.3"] if i % 2 else ["127.0.0.4"])
            time.sleep(RESOLVE_INTERVAL / 2)  # a flap: some answers are seen, some not
        self.answer(["127.0.0.3", "127.0.0.4"])
        self.wait_targets(["127.0.0.3", "127.0.0.4"])
        self.sub.collect(0.5)
        seen = self.nodes_publishing(["127.0.0.3", "127.0.0.4"], seconds=10)
        self.assertTrue({"node-127.0.0.3", "node-127.0.0.4"} <= seen, seen)
        self.assertNotIn("node-127.0.0.2", {s["node"] for s in self.sub.collect(1.5)})
