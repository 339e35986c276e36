"""Side-by-side CPU training speed of recurrent models: seqlearn vs PyTorch (nn.LSTM / nn.GRU).

    python bench/rnn_speed.py            # the table: text LSTM classifier and GRU forecaster, seconds per epoch
    python bench/rnn_speed.py --tiny     # smoke run with tiny sizes (seconds; used by the tests)

Same method as train_speed.py (whose helpers this imports): each figure is the median of `--repeats` rounds after one
warm-up, in this one process; in each round every entry runs one epoch in turn (interleaved, so a drifting machine
load falls on both alike); min / median / max are printed, and 'tie' when the two ranges overlap. PyTorch uses
set_num_threads(os.cpu_count()), seqlearn its own BLAS thread choice. Both models are the same: the same layers and
sizes, Adam(1e-3), a sigmoid (or linear) output with its loss, a new random order each epoch.
The memory line: tracemalloc over a 3-epoch seqlearn fit after a warm-up (peak above the start, growth of held memory
between the first and the last epoch), next to one batch of the unrolled sequence's activations for scale.
"""
from __future__ import annotations
import argparse, contextlib, io, math, pathlib, sys
import numpy as np
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import CORES, SL, interleaved, _timed, _verdict, _blas_threads, _EpochTimer, torch_or_none, torch_epoch_loop, fit_memory, _threads_used

def workloads(tiny=False):
    "name -> dict(kind, vocab, embed, units, timesteps, n samples, batch)."
    if tiny:
        return {'text-lstm': dict(kind='lstm', vocab=200, embed=8, units=8, T=12, n=128, batch=32),
                'gru-forecast': dict(kind='gru', vocab=None, embed=None, units=8, T=12, n=128, batch=32)}
    return {'text-lstm': dict(kind='lstm', vocab=10000, embed=32, units=64, T=100, n=3200, batch=64),     # 50 steps an epoch
            'gru-forecast': dict(kind='gru', vocab=None, embed=None, units=32, T=48, n=3200, batch=64)}

def make_data(w, seed=0):
    "Codes and labels (text), or windows of a noisy sine and the next value (forecast), from a fixed seed."
    rng = np.random.default_rng(seed)
    if w['kind'] == 'lstm':
        x = rng.integers(1, w['vocab'], (w['n'], w['T'])).astype(np.int64)
        return x, (x[:, -5:].mean(1) > w['vocab'] / 2).astype(np.float32)[:, None]
    t = np.arange(w['n'] + w['T'] + 1)
    s = (np.sin(t * 0.07) + 0.1 * rng.standard_normal(len(t))).astype(np.float32)
    idx = np.arange(w['T'])[None] + np.arange(w['n'])[:, None]
    return s[idx][..., None], s[idx[:, -1] + 1][:, None]

def seqlearn_model(w, seed=0):
    from seqlearn import Sequential, Input, Dense, set_seed
    from seqlearn.layers import Embedding, LSTM, GRU
    from seqlearn.optimizers import Adam
    set_seed(seed)
    if w['kind'] == 'lstm':
        m = Sequential([Input((w['T'],), dtype='int64'), Embedding(w['vocab'], w['embed']), LSTM(w['units']), Dense(1, activation='sigmoid')])
        m.compile(Adam(1e-3), 'binary_crossentropy')
    else:
        m = Sequential([Input((w['T'], 1)), GRU(w['units']), Dense(1)])
        m.compile(Adam(1e-3), 'mse')
    return m

def seqlearn_runner(w, x, y):
    "One epoch of fit per call; `run.threads` lists how each call ended up using the cores (see train_speed._threads_used)."
    m, t = seqlearn_model(w), _EpochTimer()
    def run():
        with contextlib.redirect_stdout(io.StringIO()): m.fit(x, y, batch_size=w['batch'], epochs=1, verbose=0, callbacks=[t.cb])
        run.threads.append(_threads_used(m))
        return float(t.times[-1])
    run.threads = []
    return run

def torch_runner(torch, w, x, y, seed=0):
    nn = torch.nn
    torch.manual_seed(seed)
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if w['kind'] == 'lstm':
                self.emb, self.rnn = nn.Embedding(w['vocab'], w['embed']), nn.LSTM(w['embed'], w['units'], batch_first=True)
            else: self.emb, self.rnn = None, nn.GRU(1, w['units'], batch_first=True)
            self.out = nn.Linear(w['units'], 1)
        def forward(self, x):
            h = self.rnn(self.emb(x) if self.emb is not None else x)[0][:, -1]
            return self.out(h)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = nn.BCEWithLogitsLoss() if w['kind'] == 'lstm' else nn.MSELoss()
    return _timed(torch_epoch_loop(torch, net, opt, lossf, torch.from_numpy(x), torch.from_numpy(y), w['batch']))

def memory(w, x, y):
    peak, growth = fit_memory(seqlearn_model(w), x, y, w['batch'], 3)
    gates = 4 if w['kind'] == 'lstm' else 3
    acts = w['batch'] * w['T'] * (w['units'] * (gates + 2) + (w['embed'] or 1)) * 4   # gates, states and inputs of every step
    return peak / 2**20, growth / 2**10, acts / 2**20

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--tiny', action='store_true'); ap.add_argument('--repeats', type=int, default=5)
    a = ap.parse_args(argv)
    torch = torch_or_none()
    import seqlearn  # noqa: the BLAS threads line below is seqlearn's process
    print(f"{CORES} cores; BLAS: {_blas_threads()}; PyTorch {torch.__version__ if torch else 'not installed'} "
          f"({torch.get_num_threads() if torch else '-'} threads); {a.repeats} interleaved rounds after a warm-up")
    print(f"\n{'workload':14s} {'model':42s} {'seqlearn s/epoch (min/med/max)':>32s} {'pytorch s/epoch (min/med/max)':>32s} {'sl/pt':>6s}  verdict")
    for name, w in workloads(a.tiny).items():
        x, y = make_data(w)
        runners = {SL: seqlearn_runner(w, x, y), 'pytorch': torch_runner(torch, w, x, y) if torch else None}
        res = interleaved(runners, a.repeats, spread=True)
        desc = (f"Embedding {w['vocab']}x{w['embed']} LSTM {w['units']} Dense" if w['kind'] == 'lstm' else f"GRU {w['units']} Dense, 1 feature") \
               + f", T={w['T']}, batch {w['batch']}"
        fmt = lambda r: f"{r[0]:.3f} / {r[1]:.3f} / {r[2]:.3f}"
        pt = res.get('pytorch')
        print(f"{name:14s} {desc:42s} {fmt(res[SL]):>32s} {fmt(pt) if pt else 'n/a':>32s} "
              f"{res[SL][1] / pt[1] if pt else float('nan'):6.2f}  {_verdict(res[SL], pt) if pt else '-'}")
        used = runners[SL].threads
        print(f"{'':14s} seqlearn's threads per epoch (fit's choice, the warm-up first): {', '.join(used)}")
        peak, growth, acts = memory(w, x, y)
        print(f"{'':14s} memory: fit peak {peak:.1f} MB above the start, held memory growth {growth:.0f} KB over 2 epochs; "
              f"one batch of unrolled activations {acts:.1f} MB")

if __name__ == '__main__': main()
