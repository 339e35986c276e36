"""Side-by-side CPU training speed: seqlearn vs PyTorch vs scikit-learn vs a numpy floor (issue 6).

    python bench/train_speed.py            # the table (a few minutes on 2 cores)
    python bench/train_speed.py --tiny     # smoke run with tiny sizes (seconds; used by the tests)
    python bench/train_speed.py --mnist1d  # also the MNIST-1D accuracy-at-speed run (long)
    python bench/train_speed.py --contention  # quiet vs busy machine: os.cpu_count() busy processes beside the run

Peers are optional (`pip install -e ".[bench]"`); a missing peer is reported, not fatal.
Each figure is the median of `--repeats` rounds after one warm-up, in this one process; in each round every
entry of a workload runs once in turn, so a shared machine's drifting load falls on all of them alike.
"""
from __future__ import annotations
import argparse, collections, contextlib, io, os, statistics, subprocess, sys, time, tracemalloc, warnings
import numpy as np

CORES = os.cpu_count() or 1
SL = 'seqlearn'
ADAM_LR = 1e-3

# -- workloads --------------------------------------------------------------------------------------
def workloads(tiny=False):
    "name -> (layer sizes, hidden activation, output kind, n samples, batch size)."
    if tiny:
        return {'mlp': ((20, 16, 8, 4), 'multi', 256, 64), 'small-batch': ((20, 16, 8, 4), 'multi', 256, 16),
                'seed': ((10, 8, 4, 1), 'binary', 256, 32), 'predict': ((20, 16, 8, 4), 'multi', 256, 128)}
    return {'mlp': ((784, 256, 128, 10), 'multi', 60000, 128), 'small-batch': ((784, 256, 128, 10), 'multi', 60000, 32),
            'seed': ((10, 32, 16, 1), 'binary', 20000, 32), 'predict': ((784, 256, 128, 10), 'multi', 60000, 1024)}

def make_data(sizes, kind, n, seed=0):
    "float32 inputs and learnable labels (a random teacher network's decision), from a fixed seed."
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, sizes[0])).astype(np.float32)
    w = rng.normal(size=(sizes[0], sizes[-1] if kind == 'multi' else 1)).astype(np.float32)
    s = np.tanh(x @ w)
    y = s.argmax(axis=1).astype(np.int64) if kind == 'multi' else (s[:, 0] > 0).astype(np.float32)
    return x, y

def _timed(fn):
    "A runner: calls `fn` and returns the seconds it took (or what `fn` returns, if it times itself)."
    def run():
        t0 = time.perf_counter(); r = fn()
        return r if isinstance(r, float) else time.perf_counter() - t0
    return run

def interleaved(runners, repeats, spread=False):
    """Median seconds of each runner (or (min, median, max) with `spread`). One warm-up each, then `repeats` rounds in
    which every runner runs once in turn: a shared machine's load drifts, and interleaving makes the drift fall on
    every entry alike."""
    runners = {k: v for k, v in runners.items() if v is not None}
    for run in runners.values(): run()
    times = {k: [] for k in runners}
    for _ in range(repeats):
        for k, run in runners.items(): times[k].append(run())
    if spread: return {k: (min(v), statistics.median(v), max(v)) for k, v in times.items()}
    return {k: statistics.median(v) for k, v in times.items()}

def _blas_threads():
    from threadpoolctl import threadpool_info
    return ', '.join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info() if i['user_api'] == 'blas') or 'unknown'

# -- seqlearn ---------------------------------------------------------------------------------------
def seqlearn_model(sizes, kind, seed=0, lr=ADAM_LR):
    from seqlearn import Sequential, Dense, Input, set_seed
    from seqlearn.optimizers import Adam
    set_seed(seed)
    layers = [Input((sizes[0],))] + [Dense(u, activation='relu') for u in sizes[1:-1]]
    layers.append(Dense(sizes[-1], activation='softmax' if kind == 'multi' else 'sigmoid'))
    m = Sequential(layers)
    m.compile(optimizer=Adam(learning_rate=lr),
              loss='sparse_categorical_crossentropy' if kind == 'multi' else 'binary_crossentropy', metrics=['accuracy'])
    return m

class _EpochTimer:
    "Callback recording the wall time of each epoch (so fit's one-off input checks are not counted)."
    def __init__(self):
        from seqlearn.callbacks import Callback
        outer = self
        class T(Callback):
            def on_epoch_begin(self, epoch, logs=None): outer.t0 = time.perf_counter()
            def on_epoch_end(self, epoch, logs=None): outer.times.append(time.perf_counter() - outer.t0)
        self.times, self.cb = [], T()

def widget_runner(sizes, kind, x, y, batch, final_costs):
    """seqlearn with the notebook progress widget as if displayed (live plot on): one epoch per call. The fixed
    cost at the end of each fit (the final plot) is not in the epoch time; it is appended to `final_costs`."""
    try: from seqlearn.widgets import TrainingProgress
    except ImportError: return None
    import matplotlib.pyplot  # noqa: a one-off import, not a per-fit cost (no backend switch: a notebook running this keeps its own)
    class Timed(TrainingProgress):
        def on_train_end(self, logs=None):
            t0 = time.perf_counter(); super().on_train_end(logs); final_costs.append(time.perf_counter() - t0)
    tp = Timed(show=False); tp._shown = True  # what a displayed widget does, minus the browser
    return seqlearn_runner(sizes, kind, x, y, batch, callbacks=[tp])

def fit_memory(m, x, y, batch, epochs):
    """tracemalloc over `epochs` of m.fit after a short warm-up fit (build, optimizer state, buffers): bytes of the peak
    above the start, and growth of held memory from the end of the first epoch to the last."""
    m.fit(x[:batch * 2], y[:batch * 2], batch_size=batch, epochs=1, verbose=0)
    from seqlearn.callbacks import Callback
    held = []
    class C(Callback):
        def on_epoch_end(self, epoch, logs=None): held.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[C()])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base, held[-1] - held[0]

def memory_seqlearn(sizes, kind, x, y, batch, epochs):
    "tracemalloc during fit: peak above the start, and growth of held memory from the end of epoch 1 to the last."
    m = seqlearn_model(sizes, kind)
    peak, growth = fit_memory(m, x, y, batch, epochs)
    params = sum(w.size for w in m.get_weights()) * 4
    acts = batch * sum(sizes[1:]) * 4
    return {'peak_mb': peak / 2**20, 'growth_kb': growth / 2**10,
            # issue 6: fit may grow by the data plus a few copies of the parameters and one batch of activations
            'budget_mb': (x.nbytes + y.size * sizes[-1] * 4 + batch * sizes[0] * 4 + 6 * params + 4 * acts) / 2**20, 'epochs': epochs}

def predict_seqlearn_runner(sizes, kind, x, batch):
    m = seqlearn_model(sizes, kind)
    return _timed(lambda: m.predict(x, batch_size=batch, verbose=0))

def _threads_used(m):
    "How the last fit of `m` used BLAS by the end: 'all' of BLAS's threads, 'one', or 'split' (seqlearn's thread tuner)."
    c = m._thread_choice
    return 'one' if c is None or c[0] == 1 else 'all' if c[0] is None else str(c[0])

def seqlearn_runner(sizes, kind, x, y, batch, verbose=0, callbacks=()):
    """One epoch of fit per call, timed by a callback (fit's one-off input checks are not counted). `run.threads`
    lists how each call ended up using BLAS (the warm-up first)."""
    m = seqlearn_model(sizes, kind); t = _EpochTimer()
    def run():
        with contextlib.redirect_stdout(io.StringIO()):  # verbose=1 draws a text progress bar: time it, hide it
            m.fit(x, y, batch_size=batch, epochs=1, verbose=verbose, callbacks=[t.cb, *callbacks])
        run.threads.append(_threads_used(m))
        return float(t.times[-1])
    run.threads = []
    return run

# -- numpy floor ------------------------------------------------------------------------------------
def _floor_weights(sizes):
    rng = np.random.default_rng(0)
    return [rng.normal(0, 0.05, size=(a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]

def floor_runner(sizes, x, batch):
    "The forward and backward matrix products alone (no activations, loss, optimizer or batch gather)."
    ws = _floor_weights(sizes)
    zs = [np.empty((batch, s), np.float32) for s in sizes[1:]]
    gs = [np.empty((batch, s), np.float32) for s in sizes[:-1]]
    dws = [np.empty_like(w) for w in ws]
    n = len(x) - len(x) % batch
    def epoch():
        for a in range(0, n, batch):
            h = x[a:a + batch]
            ins = [h]
            for w, z in zip(ws, zs): np.matmul(h, w, out=z); h = z; ins.append(z)
            g = zs[-1]
            for i in range(len(ws) - 1, -1, -1):
                np.matmul(ins[i].T, g, out=dws[i])
                if i: np.matmul(g, ws[i].T, out=gs[i]); g = gs[i]
    run = _timed(epoch)
    return lambda: run() * len(x) / n  # scaled to the whole data (the floor skips the last partial batch)

def predict_floor_runner(sizes, x, batch):
    ws = _floor_weights(sizes)
    zs = [np.empty((batch, s), np.float32) for s in sizes[1:]]
    def run():
        for a in range(0, len(x), batch):
            h = x[a:a + batch]; k = len(h)
            for w, z in zip(ws, zs): np.matmul(h, w, out=z[:k]); h = z[:k]
    return _timed(run)

# -- PyTorch ----------------------------------------------------------------------------------------
def torch_or_none():
    try:
        import torch
        torch.set_num_threads(CORES)
        return torch
    except ImportError: return None

def torch_model(torch, sizes, kind, seed=0):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2: mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)

def torch_epoch_fn(torch, sizes, kind, x, y, batch, lr=ADAM_LR, seed=0):
    model = torch_model(torch, sizes, kind, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    lossf = torch.nn.CrossEntropyLoss() if kind == 'multi' else torch.nn.BCEWithLogitsLoss()
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y) if kind == 'multi' else torch.from_numpy(y).reshape(-1, 1)
    return model, torch_epoch_loop(torch, model, opt, lossf, xt, yt, batch)

def torch_epoch_loop(torch, net, opt, lossf, xt, yt, batch):
    "One PyTorch epoch as a function: a new random order, mini-batches gathered from it, one optimizer step each."
    n = len(xt)
    def epoch():
        net.train()
        perm = torch.randperm(n)
        for a in range(0, n, batch):
            idx = perm[a:a + batch]
            opt.zero_grad(set_to_none=True)
            loss = lossf(net(xt[idx]), yt[idx])
            loss.backward(); opt.step()
    return epoch

def torch_runner(torch, sizes, kind, x, y, batch):
    _, epoch = torch_epoch_fn(torch, sizes, kind, x, y, batch)
    return _timed(epoch)

def predict_torch_runner(torch, sizes, kind, x, batch):
    model = torch_model(torch, sizes, kind).eval()
    xt = torch.from_numpy(x)
    def run():
        with torch.inference_mode():
            out = [torch.softmax(model(xt[a:a + batch]), dim=1) for a in range(0, len(x), batch)]
            return torch.cat(out).numpy()
    return _timed(run)

# -- scikit-learn -----------------------------------------------------------------------------------
def sklearn_or_none():
    try:
        import sklearn.neural_network  # noqa
        return sklearn.neural_network
    except ImportError: return None

def _sk_model(nn, sizes, batch):
    return nn.MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation='relu', solver='adam', learning_rate_init=ADAM_LR,
                            batch_size=batch, alpha=0.0, max_iter=1, shuffle=True, random_state=0)

def sklearn_runner(nn, sizes, kind, x, y, batch):
    m = _sk_model(nn, sizes, batch)
    classes = np.unique(y)
    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            m.partial_fit(x, y, classes=classes)  # one pass over the data in shuffled mini-batches
    return _timed(epoch)

def predict_sklearn_runner(nn, sizes, kind, x, y, batch):
    m = _sk_model(nn, sizes, batch)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore'); m.partial_fit(x[:batch], y[:batch], classes=np.unique(y))
    return _timed(lambda: m.predict_proba(x))

# -- MNIST-1D ---------------------------------------------------------------------------------------
def mnist1d_run(torch, seeds=(0, 1, 2), epochs=200, batch=100, lr=1e-2):
    from mnist1d.data import make_dataset, get_dataset_args
    d = make_dataset(get_dataset_args())
    x, y = d['x'].astype(np.float32), d['y'].astype(np.int64)
    xt, yt = d['x_test'].astype(np.float32), d['y_test'].astype(np.int64)
    sizes = (x.shape[1], 256, 256, 10)
    res = {'seqlearn': [], 'pytorch': []}
    for s in seeds:
        m = seqlearn_model(sizes, 'multi', seed=s, lr=lr)
        t0 = time.perf_counter()
        m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
        t = time.perf_counter() - t0
        acc = float((m.predict(xt, batch_size=1000, verbose=0).argmax(1) == yt).mean())
        res['seqlearn'].append((acc, t))
        if torch is not None:
            torch.manual_seed(s)
            model, epoch = torch_epoch_fn(torch, sizes, 'multi', x, y, batch, lr=lr, seed=s)
            t0 = time.perf_counter()
            for _ in range(epochs): epoch()
            t = time.perf_counter() - t0
            with torch.inference_mode(): acc = float((model(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())
            res['pytorch'].append((acc, t))
    print(f"\nMNIST-1D: {len(x)} train / {len(xt)} test, {sizes[0]}-256-256-10 ReLU, Adam lr {lr:g}, batch {batch}, "
          f"{epochs} epochs, seeds {list(seeds)}")
    print_runs(res, 9, 'not installed')
    return res

def print_runs(res, width, missing):
    "One line per entry of `res` ({name: [(accuracy, seconds), ...]}): mean test accuracy and wall time, with each run's."
    for k, v in res.items():
        if not v: print(f"  {k:{width}s} {missing}"); continue
        accs, ts = zip(*v)
        print(f"  {k:{width}s} mean test accuracy {100 * np.mean(accs):.1f}% ({', '.join(f'{100 * a:.1f}' for a in accs)})"
              f"   wall time per run {np.mean(ts):.1f} s ({', '.join(f'{t:.1f}' for t in ts)})")

# -- main -------------------------------------------------------------------------------------------
# -- a busy machine ---------------------------------------------------------------------------------
BUSY = "import time, sys\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end: pass"

@contextlib.contextmanager
def busy_machine(n=CORES, seconds=600):
    "`n` processes spinning a Python loop (each ends by itself after `seconds`), stopped when the block ends."
    procs = [subprocess.Popen([sys.executable, '-c', BUSY, str(seconds)]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them start
        yield
    finally:
        for p in procs: p.terminate()
        for p in procs: p.wait(timeout=10)

def contention_workloads(tiny=False):
    "name -> (sizes, output kind, n samples, batch): the MNIST-1D MLP recipe, and the table's seed and mlp."
    if tiny: return {'mnist1d-mlp': ((40, 16, 16, 10), 'multi', 200, 100), 'seed': ((10, 8, 4, 1), 'binary', 256, 32),
                     'mlp': ((20, 16, 8, 4), 'multi', 256, 64)}
    return {'mnist1d-mlp': ((40, 256, 256, 10), 'multi', 4000, 100), 'seed': ((10, 32, 16, 1), 'binary', 20000, 32),
            'mlp': ((784, 256, 128, 10), 'multi', 20000, 128)}

def contention(torch, repeats, tiny=False):
    "Seconds per epoch quiet and beside os.cpu_count() busy processes, for seqlearn and PyTorch; the ratio busy/quiet."
    rows = []
    for name, (sizes, kind, n, batch) in contention_workloads(tiny).items():
        print(f"  contention: {name} ...", file=sys.stderr, flush=True)
        x, y = make_data(sizes, kind, n)
        runners = lambda: {SL: seqlearn_runner(sizes, kind, x, y, batch),
                           'pytorch': torch_runner(torch, sizes, kind, x, y, batch) if torch else None}
        quiet_runners = runners(); quiet = interleaved(quiet_runners, repeats, spread=True)
        with busy_machine(): busy_runners = runners(); busy = interleaved(busy_runners, repeats, spread=True)
        rows.append({'workload': name, 'sizes': '-'.join(map(str, sizes)), 'batch': batch, 'quiet': quiet, 'busy': busy,
                     'sl_threads': (quiet_runners[SL].threads[1:], busy_runners[SL].threads[1:])})
    print(f"\ncontention: seconds per epoch, quiet and with {CORES} busy processes beside it (min / median / max of {repeats} rounds)")
    print(f"{'workload':12s} {'model':16s} {'who':9s} {'quiet':>24s} {'busy':>24s} {'busy/quiet':>10s}")
    for r in rows:
        for who in (SL, 'pytorch'):
            if who not in r['quiet']: continue
            q, b = r['quiet'][who], r['busy'][who]
            f = lambda t: f"{t[0]:.3f}/{t[1]:.3f}/{t[2]:.3f}"
            print(f"{r['workload']:12s} {r['sizes']:16s} {who:9s} {f(q):>24s} {f(b):>24s} {b[1] / q[1]:9.1f}x")
    print("seqlearn's BLAS threads at the end of each timed round, quiet | busy: " + '; '.join(
        f"{r['workload']} {' '.join(r['sl_threads'][0])} | {' '.join(r['sl_threads'][1])}" for r in rows))
    return rows

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tiny', action='store_true', help='tiny sizes: a smoke run in seconds (no meaningful timings)')
    ap.add_argument('--mnist1d', action='store_true', help='also run the MNIST-1D accuracy run (3 seeds x 200 epochs)')
    ap.add_argument('--repeats', type=int, default=5, help='timed rounds (median reported), after one warm-up; entries interleave')
    ap.add_argument('--memory-epochs', type=int, default=10, help='epochs of the seqlearn tracemalloc run')
    ap.add_argument('--only', nargs='*', help='workloads to run (default: all)')
    ap.add_argument('--no-peers', action='store_true', help='skip PyTorch and scikit-learn')
    ap.add_argument('--no-sklearn', action='store_true', help='skip scikit-learn (its float64 MLP is the slowest entry)')
    ap.add_argument('--contention', action='store_true', help='measure quiet vs busy (os.cpu_count() busy processes) instead of the table')
    args = ap.parse_args(argv)
    repeats = max(1, args.repeats if not args.tiny else 1)
    torch = None if args.no_peers else torch_or_none()
    nn = None if args.no_peers or args.no_sklearn else sklearn_or_none()
    print(f"train_speed: numpy {np.__version__}, {CORES} cores"
          + (f", torch {torch.__version__} with set_num_threads({torch.get_num_threads()})" if torch else ", torch: not installed")
          + (f", scikit-learn {__import__('sklearn').__version__}" if nn else ", scikit-learn: not installed")
          + f"; seqlearn.config.threads={__import__('seqlearn').config.threads!r} (BLAS threads available: {_blas_threads()})"
          + f"; median of {repeats} interleaved rounds after 1 warm-up" + (' [--tiny: sizes are not meaningful]' if args.tiny else ''))
    if args.contention: return contention(torch, repeats, args.tiny)
    wl = workloads(args.tiny)
    rows = []
    for name, (sizes, kind, n, batch) in wl.items():
        if args.only and name not in args.only: continue
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        x, y = make_data(sizes, kind, n)
        r = {'workload': name, 'sizes': '-'.join(map(str, sizes)), 'n': n, 'batch': batch, 'steps': -(-n // batch),
             'pytorch': None, 'sklearn': None}
        if name == 'predict':
            _record(r, interleaved({'floor': predict_floor_runner(sizes, x, batch),
                                    SL: predict_seqlearn_runner(sizes, kind, x, batch),
                                    'pytorch': predict_torch_runner(torch, sizes, kind, x, batch) if torch else None,
                                    'sklearn': predict_sklearn_runner(nn, sizes, kind, x, y, batch) if nn else None}, repeats, spread=True))
        else:
            final_costs = []
            extra = {'seqlearn_verbose1': seqlearn_runner(sizes, kind, x, y, batch, verbose=1),
                     'seqlearn_widget': widget_runner(sizes, kind, x, y, batch, final_costs)} if name == 'mlp' else {}
            sl = seqlearn_runner(sizes, kind, x, y, batch)
            _record(r, interleaved({'floor': floor_runner(sizes, x, batch), SL: sl,
                                    'pytorch': torch_runner(torch, sizes, kind, x, y, batch) if torch else None,
                                    'sklearn': sklearn_runner(nn, sizes, kind, x, y, batch) if nn else None, **extra}, repeats, spread=True))
            r['sl_threads'] = sl.threads[1:]   # the timed rounds
            if final_costs: r['widget_final_s'] = statistics.median(final_costs)
            if name in ('mlp', 'seed'):
                r['memory'] = memory_seqlearn(sizes, kind, x, y, batch, args.memory_epochs if not args.tiny else 2)
        rows.append(r)
    print_table(rows)
    if args.mnist1d:
        try: mnist1d_run(torch)
        except ImportError: print("\nMNIST-1D: the mnist1d package is not installed (pip install mnist1d); skipped.")
    return rows

def _record(row, spreads):
    "Medians into the row (what the table prints), and every (min, median, max) under 'spread'."
    row.update({k: v[1] for k, v in spreads.items()}); row['spread'] = spreads

def _verdict(a, b):
    "'ahead' / 'behind' when the (min, max) ranges of two entries do not overlap, else 'tie'."
    if a[2] < b[0]: return 'ahead'
    if a[0] > b[2]: return 'behind'
    return 'tie'

def print_table(rows):
    fmt = lambda v: '   n/a' if v is None else f"{v:7.3f}"
    print(f"\n{'workload':12s} {'model':16s} {'batch':>5s} {'floor s':>8s} {'seqlearn':>8s} {'pytorch':>8s} {'sklearn':>8s} "
          f"{'sl/floor':>8s} {'sl/best peer':>12s}")
    for r in rows:
        peers = [v for v in (r['pytorch'], r['sklearn']) if v is not None]
        best = min(peers) if peers else None
        print(f"{r['workload']:12s} {r['sizes']:16s} {r['batch']:5d} {fmt(r['floor']):>8s} {fmt(r['seqlearn']):>8s} "
              f"{fmt(r['pytorch']):>8s} {fmt(r['sklearn']):>8s} {r['seqlearn'] / r['floor']:7.2f}x "
              f"{'n/a' if best is None else f'{r[SL] / best:.2f}x':>12s}")
    print("(seconds per training epoch, or per pass over the data for predict; 'sl' = seqlearn; ratio < 1 means seqlearn is faster)")
    print("spread over the rounds (min / median / max), and whether seqlearn's lead over PyTorch is real (ranges apart) or a tie:")
    for r in rows:
        sp = r.get('spread', {})
        f = lambda t: f"{t[0]:.3f}/{t[1]:.3f}/{t[2]:.3f}"
        parts = [f"{k} {f(v)}" for k, v in sp.items() if k in (SL, 'pytorch', 'sklearn', 'floor')]
        verdict = f" -> seqlearn vs pytorch: {_verdict(sp[SL], sp['pytorch'])}" if SL in sp and 'pytorch' in sp else ''
        print(f"  {r['workload']:12s} " + ', '.join(parts) + verdict)
    used = [f"{r['workload']} " + ', '.join(f"{k} x{n}" for k, n in collections.Counter(r['sl_threads']).items())
            for r in rows if r.get('sl_threads')]
    if used: print("seqlearn's BLAS threads at the end of each timed round (its tuner's choice; 'one' for small products): "
                   + '; '.join(used))
    for r in rows:
        ms = lambda v: 'n/a' if v is None else f"{1000 * v / r['steps']:.3f}"
        if r['workload'] == 'seed':
            print(f"seed: ms per training step: seqlearn {ms(r['seqlearn'])}, pytorch {ms(r['pytorch'])}, "
                  f"sklearn {ms(r['sklearn'])}, floor {ms(r['floor'])}")
        if r['workload'] == 'predict':
            th = lambda v: 'n/a' if v is None else f"{r['n'] / v:,.0f}"
            print(f"predict throughput (samples/s, batch {r['batch']}): seqlearn {th(r['seqlearn'])}, pytorch {th(r['pytorch'])} "
                  f"(inference_mode), sklearn {th(r['sklearn'])} (predict_proba, one call), floor {th(r['floor'])}")
        if 'seqlearn_verbose1' in r:
            print(f"{r['workload']}: seqlearn with the progress display (verbose=1, text bar): {r['seqlearn_verbose1']:.3f} s, "
                  f"{100 * (r['seqlearn_verbose1'] / r['seqlearn'] - 1):+.1f}% vs verbose=0")
        if r.get('seqlearn_widget'):
            print(f"{r['workload']}: seqlearn with the notebook widget (TrainingProgress, live plot): {r['seqlearn_widget']:.3f} s per "
                  f"epoch, {100 * (r['seqlearn_widget'] / r['seqlearn'] - 1):+.1f}% vs verbose=0; plus {r.get('widget_final_s', 0):.3f} s "
                  f"once per fit (the final plot)")
        if 'memory' in r:
            m = r['memory']
            print(f"{r['workload']}: seqlearn fit memory (tracemalloc, {m['epochs']} epochs): peak {m['peak_mb']:.2f} MB above start "
                  f"(budget: data + one-hot targets + a batch + 6x params + 4x activations = {m['budget_mb']:.2f} MB); "
                  f"held memory growth from epoch 1 to {m['epochs']}: {m['growth_kb']:+.1f} KB")

if __name__ == '__main__':
    main()
