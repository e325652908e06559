#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""report.py [--only SUITE] [--docs FILE --img DIR] RESULTS -- the table of
the benchmark suite from its results file.

RESULTS holds one line per measurement, "result suite=S server=X key=value
...", as bench/c2s, bench/s2s and bench/conns write them, and "# key:
value" lines about the run (date, machine, versions). Prints one table:
rows are the metrics, columns xmuxd, Prosody, ejabberd and the ratios
xmuxd / each peer, then whether the targets are met. With --docs it also
writes the three plots (gnuplot, PNG) to DIR and the table, the targets
and the plots between the markers <!-- bench:begin --> and
<!-- bench:end --> at the top of FILE, keeping the rest of FILE."""

import argparse
import os
import re
import subprocess
import sys
import tempfile

PEERS = ("xmuxd", "prosody", "ejabberd")
NAMES = {"xmuxd": "xmuxd", "prosody": "Prosody", "ejabberd": "ejabberd"}
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
CONN_NS = (2, 10, 20)
WINDOWS = (1, 10, 100, 1000)


def load(path):
    rows, meta = [], {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# ") and ":" in line:
                k, v = line[2:].split(":", 1)
                meta[k.strip()] = v.strip()
            elif line.startswith("result "):
                rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]
                                 if "=" in kv))
    return rows, meta


class Results:
    def __init__(self, rows):
        self.rows = rows

    def get(self, key, **sel):
        """The value of key in the last row matching every sel item, or
        None."""
        v = None
        for r in self.rows:
            if all(r.get(k) == str(s) for k, s in sel.items()) and key in r:
                v = r[key]
        return v

    def num(self, key, **sel):
        v = self.get(key, **sel)
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return f if f >= 0 else None

    def state(self, suite, server):
        """'ok', or why a server has no figures in a suite."""
        st = self.get("state", suite=suite, server=server, mode="state")
        if st:
            return st
        if any(r.get("suite") == suite and r.get("server") == server
               for r in self.rows):
            return "ok"
        return "not run"


def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    a = abs(v)
    if v == int(v) and a < 1e12:
        return f"{int(v):,}".replace(",", " ") + unit
    if a >= 1000:
        s = f"{v:,.0f}".replace(",", " ")
    elif a >= 100:
        s = f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    elif a >= 0.01:
        s = f"{v:.3f}"
    else:
        s = f"{v:.4f}"
    return s + unit


def ratio(a, b):
    if not isinstance(a, float) or not isinstance(b, float) or b <= 0:
        return "n/a"
    r = a / b
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×" if r >= 0.01 else f"{r:.4f}×"


class Table:
    def __init__(self, res):
        self.res = res
        self.lines = []

    def cell(self, suite, server, key, **sel):
        v = self.res.num(key, suite=suite, server=server, **sel)
        if v is None:
            st = self.res.state(suite, server)
            return None if st == "ok" else st
        return v

    def row(self, label, suite, key, ratios=True, **sel):
        vals = {p: self.cell(suite, p, key, **sel) for p in PEERS}
        self.add(label, vals, ratios)

    def add(self, label, vals, ratios=True):
        x = vals["xmuxd"]
        cells = [fmt(vals[p]) if vals[p] != "" else "" for p in PEERS]
        rs = ([ratio(x, vals["prosody"]), ratio(x, vals["ejabberd"])]
              if ratios else ["", ""])
        self.lines.append([label] + cells + rs)

    def section(self, title):
        self.lines.append([f"**{title}**", "", "", "", "", ""])

    def render(self):
        head = ["", "xmuxd", "Prosody", "ejabberd", "xmuxd/Prosody",
                "xmuxd/ejabberd"]
        w = [max(len(r[i]) for r in self.lines + [head]) for i in range(6)]
        out = ["| " + " | ".join(head[i].ljust(w[i]) if i == 0 else
                                 head[i].rjust(w[i]) for i in range(6)) + " |",
               "| " + " | ".join("-" * w[0] if i == 0 else
                                 "-" * (w[i] - 1) + ":" for i in range(6))
               + " |"]
        for r in self.lines:
            out.append("| " + " | ".join(r[i].ljust(w[i]) if i == 0 else
                                         r[i].rjust(w[i]) for i in range(6))
                       + " |")
        return "\n".join(out)


def s2s_rows(t, res):
    t.section("s2s: u1@montague → u2@capulet, one sender, pairs X→Y")
    for w in (1000, 100):
        t.row(f"s2s msgs/s, window {w}", "s2s", "msgs_per_s",
              mode="messages", window=w)
    t.row("s2s latency median ms, unloaded (window 1)", "s2s", "median_ms",
          mode="latency")
    t.row("s2s latency p99 ms, unloaded (window 1)", "s2s", "p99_ms",
          mode="latency")
    for w in (100, 1000):
        t.row(f"s2s latency median ms, loaded (window {w})", "s2s",
              "median_ms", mode="messages", window=w)
        t.row(f"s2s latency p99 ms, loaded (window {w})", "s2s", "p99_ms",
              mode="messages", window=w)
    for w in (1000, 100):
        t.row(f"server CPU s per 1000 msgs (X+Y), window {w}", "s2s",
              "cpu_s_per_1000", mode="messages", window=w)
    t.row("generator CPU s per 1000 msgs, window 1000", "s2s",
          "gen_cpu_s_per_1000", ratios=False, mode="messages", window=1000)
    t.row("generator CPU % of one core, window 1000", "s2s", "gen_cpu_pct", ratios=False,
          mode="messages", window=1000)
    t.row("messages lost, window 1000", "s2s", "lost", ratios=False, mode="messages",
          window=1000)


def c2s_rows(t, res):
    t.section("c2s: clients on one server")
    for mech in ("PLAIN", "SCRAM-SHA-1"):
        par = res.get("parallel", suite="c2s", mode="logins", mech=mech) or "?"
        t.row(f"c2s logins/s, {mech}, {par} parallel", "c2s", "logins_per_s",
              mode="logins", mech=mech)
    for mech in ("PLAIN", "SCRAM-SHA-1"):
        t.row(f"server CPU ms per login, {mech}", "c2s", "cpu_ms_per_login",
              mode="logins", mech=mech)
    for w in (1000, 100):
        t.row(f"c2s msgs/s, window {w}", "c2s", "msgs_per_s", mode="messages",
              window=w)
    t.row("c2s latency median ms, unloaded", "c2s", "median_ms",
          mode="latency")
    t.row("c2s latency p99 ms, unloaded", "c2s", "p99_ms", mode="latency")
    t.row("server CPU s per 1000 msgs, c2s window 1000", "c2s",
          "cpu_s_per_1000", mode="messages", window=1000)
    sess = {p: res.get("sessions", suite="c2s", server=p, mode="idle")
            for p in PEERS}
    want = max((int(s) for s in sess.values() if s), default=0)
    t.row(f"RSS KiB per idle TLS session ({want} sessions)", "c2s",
          "kib_per_session", mode="idle")
    short = [f"{NAMES[p]} {s}" for p, s in sess.items()
             if s and int(s) < want]
    if short:
        t.lines[-1][0] += f" (only {', '.join(short)})"
    t.row("generator CPU ms per login, PLAIN", "c2s", "gen_cpu_ms_per_login", ratios=False,
          mode="logins", mech="PLAIN")
    t.row("generator CPU s per 1000 msgs, c2s window 1000", "c2s",
          "gen_cpu_s_per_1000", ratios=False, mode="messages", window=1000)


def conns_rows(t, res):
    t.section("s2s TCP connections, N×N domains, messages both ways")
    cols = {"xmuxd": "xmuxd-mux", "prosody": "prosody",
            "ejabberd": "ejabberd"}
    for n in CONN_NS:
        vals = {p: conn_cell(res, cols[p], n) for p in PEERS}
        t.add(f"s2s connections {n}×{n} (xmuxd: mux + bidi)", vals)
    for n in CONN_NS:
        vals = {"xmuxd": conn_cell(res, "xmuxd-cold", n), "prosody": "",
                "ejabberd": ""}
        t.add(f"s2s connections {n}×{n}, xmuxd mux + bidi, all pairs at once",
              vals, ratios=False)
    for n in CONN_NS:
        vals = {"xmuxd": conn_cell(res, "xmuxd-off", n), "prosody": "",
                "ejabberd": ""}
        t.add(f"s2s connections {n}×{n}, xmuxd mux/bidi/dialback off", vals,
              ratios=False)


def conn_cell(res, server, n):
    r = [x for x in res.rows if x.get("suite") == "conns" and
         x.get("server") == server and x.get("domains") == str(n)]
    if not r:
        st = res.state("conns", server)
        return st if st != "ok" else "not run"
    r = r[-1]
    if r.get("status") != "ok":
        return f"failed ({r.get('received', '0')}/{r.get('sent', '?')} msgs)"
    try:
        return float(r["conns"])
    except (KeyError, ValueError):
        return "n/a"


def threads_rows(t, res):
    t.section("xmuxd threads (1 → 2)")
    sup = res.get("supported", suite="threads")
    for suite, what in (("threads-c2s", "c2s"), ("threads-s2s", "s2s")):
        if sup != "1":
            v = "n/a (xmuxd has no threads key)" if sup == "0" else "not run"
        else:
            a = res.num("msgs_per_s", suite=suite, server="xmuxd-t1",
                        mode="messages", window=1000)
            b = res.num("msgs_per_s", suite=suite, server="xmuxd-t2",
                        mode="messages", window=1000)
            v = (f"{b / a:.2f}× ({fmt(a)} → {fmt(b)})" if a and b else
                 "failed")
        t.add(f"{what} msgs/s window 1000, 2 threads / 1 thread",
              {"xmuxd": v, "prosody": "", "ejabberd": ""}, ratios=False)


def spin_rows(t, res):
    m = res.num("median_ms", suite="spin-s2s", server="xmuxd", mode="latency")
    p = res.num("p99_ms", suite="spin-s2s", server="xmuxd", mode="latency")
    if m is None:
        return
    t.section("xmuxd with poll_spin = 200 µs (not the default)")
    t.add("s2s latency median / p99 ms, unloaded (window 1)",
          {"xmuxd": f"{fmt(m)} / {fmt(p)}", "prosody": "", "ejabberd": ""},
          ratios=False)
    c = res.num("cpu_s_per_1000", suite="spin-s2s", server="xmuxd",
                mode="latency")
    c0 = res.num("cpu_s_per_1000", suite="s2s", server="xmuxd",
                 mode="latency")
    if c is not None:
        t.add("server CPU s per 1000 msgs (X+Y), window 1",
              {"xmuxd": fmt(c) + (f" (without: {fmt(c0)})" if c0 else ""),
               "prosody": "", "ejabberd": ""}, ratios=False)


def many_rows(t, res):
    t.section("many concurrent TLS sessions on one xmuxd (bench/c2s/many.sh)")
    st = res.get("status", suite="c2s-many")
    n = res.num("sessions", suite="c2s-many")
    if n is None:
        why = res.get("reason", suite="c2s-many")
        v = f"skipped ({why})" if st == "skipped" else "not run"
        t.add("sessions held", {"xmuxd": v, "prosody": "", "ejabberd": ""},
              ratios=False)
        return
    req = res.num("requested", suite="c2s-many")
    cap = res.get("capped_by", suite="c2s-many")
    held = fmt(n) + (f" of {fmt(req)} (capped by {cap})" if cap else "")
    rows = [("sessions held", held),
            ("time to establish, s", fmt(res.num("establish_s",
                                                 suite="c2s-many"))),
            ("xmuxd RSS MiB", fmt((res.num("rss_kib", suite="c2s-many")
                                   or 0) / 1024)),
            ("RSS KiB per session", fmt(res.num("kib_per_session",
                                                suite="c2s-many"))),
            ("latency median / p99 ms while held",
             f"{fmt(res.num('lat_median_ms', suite='c2s-many'))} / "
             f"{fmt(res.num('lat_p99_ms', suite='c2s-many'))}")]
    for label, v in rows:
        t.add(label, {"xmuxd": v, "prosody": "", "ejabberd": ""},
              ratios=False)


def table(res, only=None):
    t = Table(res)
    parts = {"s2s": s2s_rows, "c2s": c2s_rows, "conns": conns_rows,
             "threads": threads_rows, "spin": spin_rows, "many": many_rows}
    for name, fn in parts.items():
        if only in (None, name):
            fn(t, res)
    return t.render()


def target(label, v, ok_fn, limit_text):
    if v is None:
        return f"- {label}: n/a (no figure)"
    ok, how = ok_fn(v)
    return f"- {label}: {'**met**' if ok else '**NOT met**'} ({how})"


def targets(res):
    out = []
    for peer, need in (("prosody", 15), ("ejabberd", 10)):
        for w in (1000, 100):
            x = res.num("msgs_per_s", suite="s2s", server="xmuxd",
                        mode="messages", window=w)
            p = res.num("msgs_per_s", suite="s2s", server=peer,
                        mode="messages", window=w)
            label = f"s2s msgs/s ≥ {need}× {NAMES[peer]}, window {w}"
            if x is None or not p:
                out.append(f"- {label}: n/a (no figure)")
                continue
            r = x / p
            out.append(target(label, r, lambda r: (
                r >= need, f"{r:.1f}×" + ("" if r >= need else
                                          f", short by {need - r:.1f}×")),
                ""))
    for w in (1000, 100):
        c = res.num("cpu_s_per_1000", suite="s2s", server="xmuxd",
                    mode="messages", window=w)
        out.append(target(f"≤ 0.01 s server CPU per 1000 messages (s2s, X+Y, "
                          f"window {w})", c, lambda c: (
                              c <= 0.01, f"{c:.4f} s" + (
                                  "" if c <= 0.01 else
                                  f", {c - 0.01:.4f} s over")), ""))
    m = res.num("median_ms", suite="s2s", server="xmuxd", mode="latency")
    mc = res.num("median_ms", suite="c2s", server="xmuxd", mode="latency")
    extra = f"; c2s: {mc:.3f} ms" if mc is not None else ""
    ms = res.num("median_ms", suite="spin-s2s", server="xmuxd",
                 mode="latency")
    if ms is not None:
        extra += f"; with poll_spin = 200: {ms:.3f} ms"
    out.append(target("unloaded median latency ≤ 0.1 ms (s2s, one way)", m,
                      lambda m: (m <= 0.1, f"{m:.3f} ms" + (
                          "" if m <= 0.1 else f", {m - 0.1:.3f} ms over")
                          + extra), ""))
    k = res.num("kib_per_session", suite="c2s", server="xmuxd", mode="idle")
    n = res.get("sessions", suite="c2s", server="xmuxd", mode="idle")
    out.append(target(f"≤ 24 KiB per idle TLS session ({n} sessions)", k,
                      lambda k: (k <= 24, f"{k:.1f} KiB" + (
                          "" if k <= 24 else f", {k - 24:.1f} KiB over")),
                      ""))
    held = res.num("sessions", suite="c2s-many")
    cap = res.get("capped_by", suite="c2s-many")
    nofile = res.get("nofile", suite="c2s-many")
    out.append(target("100 000 concurrent TLS sessions held", held,
                      lambda h: (h >= 100000, f"{h:,.0f}".replace(",", " ") + (
                          "" if h >= 100000 else
                          f" (capped by {cap or '?'}: the hard RLIMIT_NOFILE "
                          f"here is {nofile or '?'} and raising it needs "
                          "CAP_SYS_RESOURCE, which this machine withholds)")),
                      ""))
    return "\n".join(out)


# ---- plots -------------------------------------------------------------------

def series_window(res, server):
    pts = []
    for w in WINDOWS:
        mode = "latency" if w == 1 else "messages"
        sel = {"suite": "s2s", "server": server, "mode": mode}
        if w != 1:
            sel["window"] = w
        v = res.num("msgs_per_s", **sel)
        if v:
            pts.append((w, v))
    return pts


def series_rss(res, server):
    pts = []
    for r in res.rows:
        if (r.get("suite") == "c2s" and r.get("server") == server and
                r.get("mode") == "idle_step"):
            try:
                pts.append((int(r["sessions"]), float(r["rss_kib"]) / 1024))
            except (KeyError, ValueError):
                pass
    return pts


def series_conns(res, server):
    pts = []
    for n in CONN_NS:
        v = conn_cell(res, server, n)
        if isinstance(v, float):
            pts.append((n, v))
    return pts


def plot(path, title, xlabel, ylabel, series, logx=False, logy=False,
         xtics=None):
    """series: [(name, [(x, y)...])]; skips empty ones."""
    series = [(n, p) for n, p in series if p]
    if not series:
        return False
    with tempfile.TemporaryDirectory() as d:
        cmds = ["set terminal pngcairo size 800,500 font 'sans,10'",
                f"set output '{path}'", f"set title '{title}'",
                f"set xlabel '{xlabel}'", f"set ylabel '{ylabel}'",
                "set grid", "set key top left"]
        if logx:
            cmds.append("set logscale x")
        if logy:
            cmds.append("set logscale y")
        if xtics:
            cmds.append(f"set xtics ({', '.join(str(x) for x in xtics)})")
        plots = []
        for i, (name, pts) in enumerate(series):
            f = os.path.join(d, f"s{i}.dat")
            with open(f, "w") as out:
                for x, y in pts:
                    out.write(f"{x} {y}\n")
            # Distinct points and dashes: equal series overlap.
            plots.append(f"'{f}' using 1:2 with linespoints lw 2 "
                         f"dt {i + 1} pt {(5, 7, 9, 11, 13)[i % 5]} "
                         f"ps {1.8 - 0.3 * i:.1f} title '{name}'")
        cmds.append("plot " + ", ".join(plots))
        r = subprocess.run(["gnuplot"], input="\n".join(cmds) + "\n",
                           text=True, capture_output=True)
        if r.returncode != 0:
            print(f"report.py: gnuplot failed: {r.stderr.strip()}",
                  file=sys.stderr)
            return False
    return True


def plots(res, img):
    os.makedirs(img, exist_ok=True)
    made = []
    p = os.path.join(img, "bench-throughput-window.png")
    if plot(p, "s2s messages/s vs. messages in flight", "window (messages in "
            "flight)", "messages/s", [(NAMES[s], series_window(res, s))
                                      for s in PEERS], logx=True, logy=True,
            xtics=WINDOWS):
        made.append(("Throughput vs. window (s2s)", p))
    p = os.path.join(img, "bench-rss-sessions.png")
    if plot(p, "server RSS vs. idle TLS c2s sessions", "sessions",
            "RSS (MiB)", [(NAMES[s], series_rss(res, s)) for s in PEERS],
            logy=True):
        made.append(("RSS vs. idle TLS sessions (c2s)", p))
    p = os.path.join(img, "bench-conns-domains.png")
    if plot(p, "s2s TCP connections vs. domains per server (N×N, both ways)",
            "domains per server (N)", "TCP connections",
            [("xmuxd (mux + bidi)", series_conns(res, "xmuxd-mux")),
             ("xmuxd (mux + bidi, all pairs at once)",
              series_conns(res, "xmuxd-cold")),
             ("xmuxd (mux, bidi, dialback off)",
              series_conns(res, "xmuxd-off")),
             ("Prosody", series_conns(res, "prosody")),
             ("ejabberd", series_conns(res, "ejabberd"))],
            logy=True, xtics=CONN_NS):
        made.append(("s2s connections vs. domains", p))
    return made


# ---- docs --------------------------------------------------------------------

def generated(res, meta, tbl, tgt, made, docs):
    m = meta.get
    lines = [BEGIN,
             "<!-- Generated by `make bench` (scripts/bench.sh, "
             "bench/report.py); edits here are overwritten. -->",
             "",
             "## Latest `make bench` run",
             "",
             f"- Date: {m('date', '?')}; run time {m('run time', '?')}",
             f"- Machine: {m('nproc', '?')} cores, {m('cpu', '?')}, "
             f"{m('memory', '?')} RAM, Linux {m('kernel', '?')}; "
             f"load average {m('load before', '?')} before, "
             f"{m('load after', '?')} after",
             f"- Versions: xmuxd {m('xmuxd', '?')} ({m('build', '?')}), "
             f"Prosody {m('prosody', '?')}, ejabberd {m('ejabberd', '?')}, "
             f"OpenSSL {m('openssl', '?')}, {m('compiler', '?')}",
             f"- Raw results: [bench-results.txt](bench-results.txt)",
             "",
             "Ratios are xmuxd / peer: above 1 is better for rates, below 1 "
             "for latency, CPU, memory and connections. The servers and the "
             "load generator share the machine's cores; compare within one "
             "run.",
             "",
             tbl,
             "",
             "Targets:",
             "",
             tgt,
             ""]
    rel = os.path.dirname(os.path.abspath(docs))
    for title, p in made:
        lines += [f"![{title}]({os.path.relpath(os.path.abspath(p), rel)})",
                  ""]
    lines.append(END)
    return "\n".join(lines)


def write_docs(docs, block):
    try:
        with open(docs) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Performance\n"
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        first, _, rest = text.partition("\n")
        text = first + "\n\n" + block + "\n\n" + rest.lstrip("\n")
    with open(docs, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--only",
                    choices=("s2s", "c2s", "conns", "threads", "spin",
                             "many"))
    ap.add_argument("--docs")
    ap.add_argument("--img")
    a = ap.parse_args()
    rows, meta = load(a.results)
    res = Results(rows)
    tbl = table(res, a.only)
    print(tbl)
    tgt = targets(res) if a.only is None else ""
    if tgt:
        print()
        print("Targets:")
        print(re.sub(r"\*\*", "", tgt))
    if a.docs:
        made = plots(res, a.img or os.path.join(os.path.dirname(a.docs),
                                                 "img"))
        write_docs(a.docs, generated(res, meta, tbl, tgt, made, a.docs))
        print(f"\nwrote {a.docs} and {len(made)} plot(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
