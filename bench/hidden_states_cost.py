"""What `HiddenStates` adds to a fit of an LSTM: the same fit with no view, with the view displayed (as in a notebook),
and with the text fallback (as in a terminal).

    python bench/hidden_states_cost.py             # three workloads, 5 rounds each (about three minutes on 2 cores)
    python bench/hidden_states_cost.py --rounds 9

"Displayed" means the picture is drawn and its bundle (HTML with the PNG inline) built and serialised at every
update, exactly as in a kernel; only the final hand-over to the front end (a ZMQ message) is left out: outside a
kernel `IPython.display` is replaced by functions that serialise the bundle to JSON and drop it.
Each round runs the three variants once, in turn, so a shared machine's drifting load falls on all of them alike;
the figures are medians over rounds, with min-max. The time spent inside the view's own hooks (and each update's
cost: the forward pass on the sample, the picture, the bundle) is timed too, which the machine's noise blurs less.
BLAS runs on one thread (OPENBLAS_NUM_THREADS=1), as on a 2-core machine shared with other jobs it should.
"""
from __future__ import annotations
import os
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
import argparse, io, json, statistics, sys, time
import numpy as np

import IPython.display
from seqlearn import Sequential, Input, Dense, set_seed
from seqlearn.layers import LSTM
from seqlearn.widgets import HiddenStates

SENT = [0]
def _send(bundle, *a, **k): SENT[0] += len(json.dumps(bundle))
IPython.display.display = lambda obj, *a, **k: _send(obj._bundle() if hasattr(obj, '_bundle') else obj)
IPython.display.update_display = lambda bundle, *a, **k: _send(bundle)

class Timed(HiddenStates):
    "HiddenStates that adds up the seconds spent in its own hooks, and keeps each update's cost."
    spent = 0.0
    def __init__(self, *a, **k): super().__init__(*a, **k); self.costs = []
    def _timed(hook):
        def run(self, *a, **k):
            t = time.perf_counter()
            try: return getattr(HiddenStates, hook)(self, *a, **k)
            finally: self.spent += time.perf_counter() - t
        return run
    on_train_begin, on_epoch_begin = _timed('on_train_begin'), _timed('on_epoch_begin')
    on_epoch_end, on_train_end = _timed('on_epoch_end'), _timed('on_train_end')
    def update(self, *a, **k):
        t = time.perf_counter()
        try: return super().update(*a, **k)
        finally: self.costs.append(time.perf_counter() - t)

WORKLOADS = {  # name: (samples, timesteps, features, units, epochs, batch size)
    'demo (1024 x 12 steps, LSTM 8 units, 30 epochs)': (1024, 12, 3, 8, 30, 32),
    'one second (4096 x 40 steps, LSTM 32 units, 6 epochs)': (4096, 40, 8, 32, 6, 64),
    'longer (4096 x 40 steps, LSTM 32 units, 40 epochs)': (4096, 40, 8, 32, 40, 64),
}

def run(spec, variant):
    n, steps, feats, units, epochs, bs = spec
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, steps, feats)).astype(np.float32)
    y = x[:, :, :1].sum(axis=1) / np.sqrt(steps)
    set_seed(0)
    m = Sequential([Input((steps, feats)), LSTM(units, name='lstm'), Dense(1)]); m.compile('adam', 'mse')
    cbs, hs = [], None
    if variant != 'none':
        hs = Timed('lstm', x[:1], show=True if variant == 'view' else 'text', stream=io.StringIO())
        cbs = [hs]
    t = time.perf_counter()
    m.fit(x, y, epochs=epochs, batch_size=bs, verbose=0, callbacks=cbs)
    return time.perf_counter() - t, hs

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--rounds', type=int, default=5); args = ap.parse_args()
    print(f"HiddenStates cost, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    for name, spec in WORKLOADS.items():
        run(spec, 'view')   # warm-up: imports (matplotlib's fonts, if used)
        times, views, spent = {'none': [], 'view': [], 'text': []}, [], {'view': [], 'text': []}
        for _ in range(args.rounds):
            for v in times:
                t, hs = run(spec, v); times[v].append(t)
                if v == 'view': views.append(hs)
                if hs is not None: spent[v].append(hs.spent)
        med = {v: statistics.median(ts) for v, ts in times.items()}
        print(f"\n{name}")
        for v, ts in times.items():
            extra = '' if v == 'none' else (f"  {med[v] / med['none'] - 1:+6.1%} ({med[v] - med['none']:+.3f} s); in its own hooks "
                                            f"{statistics.median(spent[v]):.3f} s = {statistics.median(spent[v]) / med['none']:.1%} of the fit")
            print(f"  {v:5s} {med[v]:7.3f} s  (min {min(ts):.3f}, max {max(ts):.3f}){extra}")
        first = [hs.costs[0] for hs in views]
        rest = [c for hs in views for c in hs.costs[1:]]
        hs = views[-1]
        size = len(json.dumps(hs._bundle()))
        print(f"  view: {hs.renders} updates in the last fit, at epochs {hs.epochs}; an update (forward pass on the sample, picture, "
              f"bundle) takes {statistics.median(first) * 1e3:.1f} ms the first of a fit, {statistics.median(rest) * 1e3:.1f} ms "
              f"(min {min(rest) * 1e3:.1f}, max {max(rest) * 1e3:.1f}) the next ones; the final bundle is {size / 1024:.0f} kB of JSON")

if __name__ == '__main__': main()
