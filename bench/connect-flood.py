#!/usr/bin/env python3
# A connect flood, as in chapter 1: `python3 bench/connect-flood.py HOST:PORT SECONDS THREADS`.
# THREADS flooders connect and reset (SO_LINGER 0) as fast as they can for SECONDS, while a healthy
# client connects every 20 ms. Prints the attempts, the kernel's listen-queue overflows (TcpExt
# ListenOverflows in /proc/net/netstat, Linux; for the whole machine, so run it on a quiet one)
# and the healthy client's connect times. Bounded: it ends after SECONDS.
import socket, struct, sys, threading, time
host, port = sys.argv[1].rsplit(':', 1); port = int(port)
seconds, threads = float(sys.argv[2]), int(sys.argv[3])
def overflows():
    lines = open('/proc/net/netstat').read().splitlines()
    for a, b in zip(lines[::2], lines[1::2]):
        if a.startswith('TcpExt:'):
            return int(dict(zip(a.split()[1:], b.split()[1:]))['ListenOverflows'])
stop = time.time() + seconds
count = [0] * threads
def flood(i):
    while time.time() < stop:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.settimeout(0.2)
        try:
            s.connect((host, port))
        except OSError:
            pass
        s.close()
        count[i] += 1
times = []
def healthy():
    while time.time() < stop:
        t = time.time()
        s = socket.socket(); s.settimeout(10)
        try:
            s.connect((host, port)); times.append(time.time() - t)
        except OSError:
            times.append(float('inf'))
        s.close()
        time.sleep(0.02)
before = overflows()
ts = [threading.Thread(target=flood, args=(i,)) for i in range(threads)] + [threading.Thread(target=healthy)]
[t.start() for t in ts]; [t.join() for t in ts]
after = overflows()
times.sort()
p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
print(f"{sum(count)} connect-then-RST attempts in {seconds:.0f} s, {after - before} listen-queue overflows; "
      f"a healthy client's connect: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {times[-1]*1000:.0f} ms ({len(times)} tries)")
