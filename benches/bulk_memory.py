#!/usr/bin/env python3
"""Peak and settled RSS of a gateway under concurrent maximum-size NDJSON bulk
requests (issue 14, finding 2).

    python3 benches/bulk_memory.py [--bin target/release/kwh-btc-iot] [--clients 32] [--mb 60]

Starts `kwh-btc-iot serve` on SQLite in a temporary directory, sends CLIENTS
concurrent bulk POSTs of MB megabytes each (Content-Length declared), each
client retrying after `Retry-After` on 503 until its body is taken, samples
the server's RSS every 20 ms, and prints the peak, the RSS once idle, the
answers by status and the logs stored.
"""
import argparse, http.client, json, os, socket, subprocess, sys, tempfile, threading, time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def make_body(mb, client):
    # Distinct logs per client (distinct meters), ~600 bytes a line.
    pad = "x" * 60
    lines, size, i = [], 0, 0
    while size < mb * 1_000_000:
        line = (
            '{"schema_version":"emlog-1.1","site_id":"SITE-%d","iot_device_id":"dev-%d","meter_id":"M-%d-%d",'
            '"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":1.5,"status":"ok",'
            '"tags":["%s","a%s","b%s","c%s"],"tx":{"price_sats_per_kwh":100,"channel":"ln"}}\n'
            % (client, client, client, i, pad, pad[:59], pad[:59], pad[:59])
        )
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode(), i


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/kwh-btc-iot")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--mb", type=int, default=60)
    a = ap.parse_args()
    port = free_port()
    data = tempfile.mkdtemp(prefix="kwh-bulk-mem-")
    srv = subprocess.Popen(
        [a.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--flush-count", "0",
         "--flush-age-s", "0", "--max-bulk-bytes", str(64 << 20), "--max-bulk-items", "200000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    print(f"generating {a.clients} bodies of {a.mb} MB ...", file=sys.stderr)
    bodies = [make_body(a.mb, c) for c in range(a.clients)]
    idle = rss_kib(srv.pid)
    peak, stop = [idle], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(srv.pid))
            time.sleep(0.02)

    statuses, lock = {}, threading.Lock()

    def client(c):
        body, _ = bodies[c]
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            try:
                conn.request("POST", "/api/v1/logs/bulk", body, {"Content-Type": "application/x-ndjson"})
                r = conn.getresponse()
                r.read()
                st, retry = r.status, r.getheader("Retry-After")
            except (ConnectionError, OSError):
                st, retry = "reset", "1"  # refused before the body was sent
            finally:
                conn.close()
            with lock:
                statuses[st] = statuses.get(st, 0) + 1
            if st == 200:
                return
            time.sleep(float(retry or 1))

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.time()
    ts = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    took = time.time() - t0
    time.sleep(2)
    settled = rss_kib(srv.pid)
    stop.set()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/metrics")
    m = conn.getresponse().read().decode()
    ingested = [l for l in m.splitlines() if l.startswith("kwh_btc_iot_logs_ingested_total")]
    srv.terminate()
    srv.wait()
    expected = sum(n for _, n in bodies)
    print(json.dumps({
        "clients": a.clients, "mb_each": a.mb, "logs_sent": expected,
        "seconds": round(took, 1), "answers": statuses,
        "rss_idle_mb": round(idle / 1024, 1), "rss_peak_mb": round(peak[0] / 1024, 1),
        "rss_settled_mb": round(settled / 1024, 1), "ingested": ingested,
    }, indent=1))


if __name__ == "__main__":
    main()
