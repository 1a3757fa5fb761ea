#!/usr/bin/env python3
"""Start-to-listening, idle RSS and PSS of the gateway demo (issue 16).

usage: measure.py --label NAME [--runs 10] [--idle 5] [--env K=V ...] -- COMMAND...
COMMAND is run with 'demo' appended by the caller (e.g. -- /opt/hikshare-gateway/hikshare-gateway demo).
Start-to-listening: from just before exec to the first accepted TCP connect on the RTSP port (polled every 1 ms).
Idle RSS/PSS: /proc/PID/status VmRSS and /proc/PID/smaps_rollup Pss after --idle seconds with no viewer.
Also the CPU seconds (user+sys, /proc/PID/stat) spent to get there, which the machine's load does not inflate.
Prints one line per run and the medians.
"""
import argparse, os, socket, statistics, subprocess, sys, tempfile, time, signal

def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def kb(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1

def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck  # utime, stime

def one(cmd, extra_env, idle):
    rtsp = free_port()
    camera = free_port()
    env = dict(os.environ)
    state = tempfile.mkdtemp(prefix="hikshare-startup-")
    env.update({
        "HIKSHARE_Gateway__StateDirectory": state,
        "HIKSHARE_Rtsp__Port": str(rtsp),
        "HIKSHARE_Http__Port": str(free_port()),
        "HIKSHARE_Admin__Port": str(free_port()),
        "HIKSHARE_WebRtc__UdpPort": "0",
        "HIKSHARE_Cloud__EmbeddedBrokerPort": str(free_port()),
        "HIKSHARE_Devices__0__Channels__0__Main": f"rtsp://127.0.0.1:{camera}/Streaming/Channels/101",
        "HIKSHARE_Devices__0__Channels__0__Sub": f"rtsp://127.0.0.1:{camera}/Streaming/Channels/102",
    })
    env.update(extra_env)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listening = None
    try:
        while time.monotonic() - t0 < 60:
            if p.poll() is not None:
                raise RuntimeError(f"exited with {p.returncode}")
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", rtsp)); listening = time.monotonic() - t0; break
            except OSError:
                time.sleep(0.001)
            finally:
                s.close()
        if listening is None:
            raise RuntimeError("never listened")
        cpu_at_listen = cpu_s(p.pid)
        time.sleep(idle)  # the measurement itself: RSS after an idle period, not a wait for an event
        rss = kb(f"/proc/{p.pid}/status", "VmRSS:")
        pss = kb(f"/proc/{p.pid}/smaps_rollup", "Pss:")
        return listening * 1000, cpu_at_listen, rss / 1024, pss / 1024
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--label", required=True)
    a.add_argument("--runs", type=int, default=10)
    a.add_argument("--idle", type=float, default=5)
    a.add_argument("--env", action="append", default=[])
    a.add_argument("cmd", nargs=argparse.REMAINDER)
    o = a.parse_args()
    cmd = o.cmd[1:] if o.cmd and o.cmd[0] == "--" else o.cmd
    extra = dict(e.split("=", 1) for e in o.env)
    rows = []
    for i in range(o.runs):
        r = one(cmd, extra, o.idle)
        rows.append(r)
        print(f"{o.label} run {i+1}: listening {r[0]:.0f} ms, cpu-to-listen {r[1]:.2f} s, idle RSS {r[2]:.1f} MB, PSS {r[3]:.1f} MB", flush=True)
    med = [statistics.median(c) for c in zip(*rows)]
    load = open("/proc/loadavg").read().split()[0]
    print(f"{o.label} MEDIAN of {o.runs}: listening {med[0]:.0f} ms, cpu-to-listen {med[1]:.2f} s, idle RSS {med[2]:.1f} MB, PSS {med[3]:.1f} MB (load {load})", flush=True)

if __name__ == "__main__":
    main()
