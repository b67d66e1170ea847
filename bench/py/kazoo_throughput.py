"""kazoo's synchronous create/get/set/delete and pipelined async get, timed
like the other clients of `make bench`. Prints one JSON object of ops/s.

usage: kazoo_throughput.py HOSTS N WINDOW PREFIX
"""
import json
import sys
import threading
import time

from kazoo.client import KazooClient

hosts, n, window, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
zk = KazooClient(hosts=hosts, timeout=10.0)
zk.start()
value = b"v" * 100
zk.create(prefix, b"")
res = {}
paths = ["%s/n%d" % (prefix, i) for i in range(n)]

t = time.monotonic()
for p in paths:
    zk.create(p, value)
res["create"] = n / (time.monotonic() - t)
t = time.monotonic()
for p in paths:
    zk.get(p)
res["get"] = n / (time.monotonic() - t)
t = time.monotonic()
for p in paths:
    zk.set(p, value)
res["set"] = n / (time.monotonic() - t)

slots = threading.Semaphore(window)
t = time.monotonic()
pending = []
for p in paths:
    slots.acquire()
    r = zk.get_async(p)
    r.rawlink(lambda _r: slots.release())
    pending.append(r)
for r in pending:
    r.get()
res["async_get"] = n / (time.monotonic() - t)

t = time.monotonic()
for p in paths:
    zk.delete(p)
res["delete"] = n / (time.monotonic() - t)
zk.delete(prefix)
zk.stop()
print(json.dumps(res))
