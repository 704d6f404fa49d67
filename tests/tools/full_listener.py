#!/usr/bin/python3
"""tests/tools/full_listener.py - a TCP port on 127.0.0.1 whose connects
hang: a relay behind a firewall that drops packets, made by the kernel
itself rather than a stand-in.

  full_listener.py [--port P]     (0 or none: a free port)

Listens with a backlog of 0 and never accept()s; then opens connections to
itself, without blocking, until one is not answered within 300 ms, and
holds them all. The listen queue is then full, and with
net.ipv4.tcp_abort_on_overflow = 0 (the default; the caller checks it,
this never changes it) the kernel drops every further SYN to the port: a
blocking connect() waits for its SYN retries, about two minutes.

Prints "ready PORT" on stdout once the queue is full, then sleeps until it
is killed. Exits 1 with a message when the queue cannot be filled.
"""
import argparse
import select
import socket
import sys
import time

FILLERS_MAX = 8  # connections opened to fill the queue before giving up


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.bind(("127.0.0.1", args.port))
    lsn.listen(0)
    port = lsn.getsockname()[1]
    held = []
    for _ in range(FILLERS_MAX):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        held.append(s)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            continue
        _, w, _ = select.select([], [s], [], 0.3)
        if not w:
            break  # not answered: the queue is full
    else:
        print("full_listener: %d connections to a listener with backlog 0 were all "
              "answered: the kernel does not drop SYNs here" % FILLERS_MAX, file=sys.stderr)
        sys.exit(1)
    print("ready %d" % port, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
