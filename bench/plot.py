#!/usr/bin/env python3
"""plot.py [RESULTS_DIR] - chart the latest benchmark results with gnuplot.

Takes the newest bench/results/*.jsonl file, and for every workload in it
draws two bars, the emulated time and the native baseline measured in the
same run (log scale), into bench/results/latest.png, and a third where
Pallas interpret mode's time for the workload is known: a recorded
constant (INTERPRET below, or the row's interpret_mode_seconds), not
measured in the run, since that is the comparison a Pallas user makes;
and the launch latency by TCs and grid size (bench_kernels' launch_grid
rows: median microseconds of an empty-body launch against grid steps,
one line per TC count, log-log) into bench/results/launch.png.  Needs
gnuplot (Debian: gnuplot-nox), which scripts/install-deps.sh installs.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

# Parameters that tell two lines of the same workload apart.
KEYS = ('n', 'rows', 'causal', 'block', 'm', 'tcs')

# Pallas interpret mode on the same workloads, recorded once (issue 4, on
# a 16-core x86 host; README.md "Speed", DESIGN.md), not measured here:
# (workload, rows, n) -> seconds.  The seed workload (grid 512 of (8,128)
# f32 blocks) on 2 simulated cores, through the engine or the driver's
# ring alike; the sorts' figures are the second call (the first one
# compiles: 212 s and 174 s).  Only these: a row's own
# interpret_mode_seconds may be the seed's figure printed beside another
# size (seed_512x128), which interpret mode never ran.
INTERPRET = {
    ('seed_8x128', None, None): 4.27,
    ('seed_8x128_driver', None, None): 4.27,
    ('sort_f32_argsort', 16, 128): 1.90,
    ('sort_f32_argsort', 16, 256): 1.85,
}


def interpret_seconds(r):
    return INTERPRET.get((r['workload'], r.get('rows'), r.get('n')))


def label(r):
    parts = [r['workload']]
    for k in KEYS:
        if k in r:
            v = r[k]
            if isinstance(v, list):
                v = 'x'.join(map(str, v))
            parts.append(f'{k}={v}')
    if r.get('bench') == 'process':
        parts.append('(whole process)')
    return ' '.join(parts)


def gnuplot(script):
    try:
        subprocess.run(['gnuplot'], input=script, text=True, check=True)
    except FileNotFoundError:
        sys.exit('plot: gnuplot not found (apt-get install gnuplot-nox)')


def plot_launch(rdir, latest, header, grid):
    """Launch latency (us) against grid steps, a line per TC count."""
    if not grid:
        return
    out = os.path.join(rdir, 'launch.png')
    dats, plots = [], []
    for tcs in sorted(grid):
        with tempfile.NamedTemporaryFile('w', suffix='.dat',
                                         delete=False) as d:
            for steps, sec in sorted(grid[tcs]):
                d.write(f'{steps} {sec * 1e6:.6g}\n')
            dats.append(d.name)
        plots.append(f"'{d.name}' using 1:2 with linespoints "
                     f"title '{tcs} TC{'s' if tcs > 1 else ''}'")
    title = (f"vtpu launch latency (empty body), commit "
             f"{header.get('commit', '?')}, {header.get('cpu', '?')}")
    try:
        gnuplot(f"""
set terminal pngcairo size 900,600 noenhanced
set output '{out}'
set title '{title}'
set logscale xy
set xlabel 'grid steps'
set ylabel 'microseconds per launch (median)'
set key top left
set grid
plot {', '.join(plots)}
""")
    finally:
        for n in dats:
            os.unlink(n)
    print(f'plot: {out} from {os.path.basename(latest)}')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    rdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, 'results')
    files = glob.glob(os.path.join(rdir, '*.jsonl'))
    if not files:
        sys.exit('plot: no results in ' + rdir)
    # The newest run with comparable rows, by the time its header records
    # (run-all.sh writes one; older files have only the date): a fresh
    # checkout gives every file the same mtime, so that only breaks ties.
    runs = []
    for path in files:
        rows, header, grid = {}, {}, {}
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get('header'):
                    header = header or r
                elif r.get('workload') == 'launch_grid':
                    grid.setdefault(r['tcs'], []).append((r['steps'],
                                                          r['seconds']))
                elif 'seconds' in r and 'native_seconds' in r:
                    rows[label(r)] = (r['seconds'], r['native_seconds'],
                                      interpret_seconds(r))
        if rows:
            when = header.get('time') or header.get('date', '')
            runs.append(((when, os.path.getmtime(path)), path, rows, header,
                         grid))
    if not runs:
        sys.exit('plot: no comparable results in ' + rdir)
    _, latest, rows, header, grid = max(runs, key=lambda run: run[0])
    out = os.path.join(rdir, 'latest.png')
    with tempfile.NamedTemporaryFile('w', suffix='.dat', delete=False) as d:
        for name, (emu, nat, interp) in rows.items():
            ip = f'{interp * 1e3:.6g}' if interp else '?'
            d.write(f'"{name}" {emu * 1e3:.6g} {nat * 1e3:.6g} {ip}\n')
        dat = d.name
    title = (f"vtpu benchmarks, commit {header.get('commit', '?')}, "
             f"{header.get('cpu', '?')} ({header.get('cores', '?')} cores)")
    script = f"""
set terminal pngcairo size 1400,700 noenhanced
set output '{out}'
set title '{title}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel 'milliseconds (log scale)'
set xtics rotate by -30 scale 0
set key outside top center horizontal
set grid ytics
set bmargin 12
set datafile missing '?'
plot '{dat}' using 2:xtic(1) title 'vtpu (emulated)', '' using 3 title 'native C baseline', \\
     '' using 4 title 'Pallas interpret mode (recorded constant, 16-core host)'
"""
    try:
        gnuplot(script)
    finally:
        os.unlink(dat)
    print(f'plot: {out} from {os.path.basename(latest)}')
    plot_launch(rdir, latest, header, grid)


if __name__ == '__main__':
    main()
