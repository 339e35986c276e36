"""What `HiddenStates` adds to a fit: the same fit with no view, with the view displayed (as in a notebook), and with
the text fallback (as in a terminal).

    python bench/hidden_states_cost.py             # three workloads, 5 rounds each (about two minutes on 2 cores)
    python bench/hidden_states_cost.py --rounds 9

"Displayed" means the picture is drawn and its bundle (HTML with the PNG inline) built and serialised at every
update, exactly as in a kernel; only the final hand-over to the front end (a ZMQ message) is left out: outside a
kernel `IPython.display` is replaced by functions that serialise the bundle to JSON and drop it.
Each round runs the three variants once, in turn, so a shared machine's drifting load falls on all of them alike;
the figures are medians over rounds, with min-max.

The recurrent layer is the stand-in of tests/test_hidden_states.py (h_t = tanh(x_t W + h_{t-1} U + b)) until
seqlearn's SimpleRNN/LSTM are merged; then use those here.
"""
from __future__ import annotations
import argparse, io, json, os, statistics, sys, time
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
import IPython.display
from seqlearn import Sequential, Input, Dense, set_seed
from seqlearn.widgets import HiddenStates
from test_hidden_states import TinyRNN

SENT = [0]
def _send(bundle, *a, **k): SENT[0] += len(json.dumps(bundle))
IPython.display.display = lambda obj, *a, **k: _send(obj._bundle() if hasattr(obj, '_bundle') else obj)
IPython.display.update_display = lambda bundle, *a, **k: _send(bundle)

class Timed(HiddenStates):
    "HiddenStates that adds up the seconds spent in its own hooks: the view's cost, free of the machine's noise."
    spent = 0.0
    def _timed(hook):
        def run(self, *a, **k):
            t = time.perf_counter()
            try: return getattr(HiddenStates, hook)(self, *a, **k)
            finally: self.spent += time.perf_counter() - t
        return run
    on_train_begin, on_epoch_begin = _timed('on_train_begin'), _timed('on_epoch_begin')
    on_epoch_end, on_train_end = _timed('on_epoch_end'), _timed('on_train_end')

WORKLOADS = {  # name: (samples, timesteps, features, units, epochs, batch size)
    'demo (1024 x 12 steps, 8 units, 30 epochs)': (1024, 12, 3, 8, 30, 32),
    'larger (4096 x 40 steps, 32 units, 8 epochs)': (4096, 40, 8, 32, 8, 64),
    'longer (4096 x 40 steps, 32 units, 80 epochs)': (4096, 40, 8, 32, 80, 64),
}

def run(spec, variant):
    n, steps, feats, units, epochs, bs = spec
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, steps, feats)).astype(np.float32)
    y = x[:, :, :1].sum(axis=1) / np.sqrt(steps)
    set_seed(0)
    m = Sequential([Input((steps, feats)), TinyRNN(units, name='rnn'), Dense(1)]); m.compile('adam', 'mse')
    cbs, hs = [], None
    if variant != 'none':
        hs = Timed('rnn', x[:1], show=True if variant == 'view' else 'text', stream=io.StringIO())
        cbs = [hs]
    t = time.perf_counter()
    m.fit(x, y, epochs=epochs, batch_size=bs, verbose=0, callbacks=cbs)
    return time.perf_counter() - t, hs

def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--rounds', type=int, default=5); args = ap.parse_args()
    print(f"HiddenStates cost, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, numpy {np.__version__}")
    for name, spec in WORKLOADS.items():
        run(spec, 'view')   # warm-up: imports, matplotlib's fonts
        times, views, spent = {'none': [], 'view': [], 'text': []}, [], {'view': [], 'text': []}
        for _ in range(args.rounds):
            for v in times:
                t, hs = run(spec, v); times[v].append(t)
                if v == 'view': views.append(hs)
                if hs is not None: spent[v].append(hs.spent)
        hs = views[-1]
        from seqlearn.widgets import hidden_states_figure
        from seqlearn.widgets.summary import png
        t0 = time.perf_counter(); first = png(hidden_states_figure(hs.states, 'x'), scale=2); new = time.perf_counter() - t0
        t0 = time.perf_counter(); [hs.render() for _ in range(3)]; again = (time.perf_counter() - t0) / 3
        med = {v: statistics.median(ts) for v, ts in times.items()}
        print(f"\n{name}")
        for v, ts in times.items():
            extra = '' if v == 'none' else (f"  {med[v] / med['none'] - 1:+6.1%} ({med[v] - med['none']:+.3f} s); in its own hooks "
                                            f"{statistics.median(spent[v]):.3f} s = {statistics.median(spent[v]) / med['none']:.1%} of the fit")
            print(f"  {v:5s} {med[v]:7.3f} s  (min {min(ts):.3f}, max {max(ts):.3f}){extra}")
        print(f"  view: {hs.renders} updates in the last fit, at epochs {hs.epochs}; a picture takes {new * 1e3:.0f} ms to draw "
              f"(the fit's first), {again * 1e3:.0f} ms (the next ones, in the same figure); {len(first) / 1024:.0f} kB PNG")

if __name__ == '__main__': main()
