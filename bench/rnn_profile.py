"""Where one training step of bench/rnn_speed.py's recurrent models spends its time, and how the step compares with PyTorch's.

    python bench/rnn_profile.py [text-lstm|gru-forecast] [--threads 1] [--epochs 2] [--torch]

Each layer's forward (`call`) and `backward`, the loss, the optimizer's update and the rest of the step are timed by
wrapping those methods during `--epochs` epochs of fit with `seqlearn.config.threads` fixed; the figures are medians over
the steps (milliseconds), which a shared machine's passing load moves far less than an epoch's total. `--torch`: the same
for PyTorch's whole step (forward, backward, Adam) with `torch.set_num_threads(--threads)`.
"""
import argparse, collections, os, pathlib, statistics, sys, time
import numpy as np
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from rnn_speed import workloads, make_data, seqlearn_model

def seqlearn_steps(w, x, y, threads, epochs):
    import seqlearn.config as config
    m = seqlearn_model(w)
    split = threads == 'split'   # one BLAS thread, and passes split over a thread per core (what fit's tuner calls 'split')
    old, config.threads = config.threads, 1 if split else threads
    workers = config.set_workers(None if split else config.workers())
    try:
        m.fit(x, y, batch_size=w['batch'], epochs=1, verbose=0)  # warm-up: buffers, flat weights
        acc, P = collections.defaultdict(list), time.perf_counter
        def timed(obj, name, key):
            f = getattr(obj, name)
            def g(*a, **k):
                t0 = P(); r = f(*a, **k); acc[key].append(P() - t0); return r
            setattr(obj, name, g)
        for l in m.layers:
            timed(l, 'call', f"{l.name} forward"); timed(l, 'backward', f"{l.name} backward")
        timed(m.optimizer, 'step', 'optimizer')
        step_t = []
        timed(m, '_train_step', '_step'); timed(m, '_apply_update', '_update')
        t0 = P(); m.fit(x, y, batch_size=w['batch'], epochs=epochs, verbose=0); total = P() - t0
    finally: config.threads = old; config.set_workers(workers)
    steps = len(acc['_step'])
    step = [a + b for a, b in zip(acc.pop('_step'), acc.pop('_update'))]
    choice = m._thread_choice[0] if m._thread_choice else 'split' if split else 'fixed'
    return ({k: 1e3 * statistics.median(v[-steps:]) for k, v in acc.items()}, 1e3 * statistics.median(step), 1e3 * min(step),
            total / epochs, {1: 'one BLAS thread', None: 'all BLAS threads', 'split': 'split over threads'}.get(choice, choice))

def torch_steps(w, x, y, threads, epochs):
    import torch
    from rnn_speed import torch_runner
    torch.set_num_threads(threads if isinstance(threads, int) else os.cpu_count())
    nn = torch.nn
    torch.manual_seed(0)
    emb = nn.Embedding(w['vocab'], w['embed']) if w['kind'] == 'lstm' else None
    rnn = nn.LSTM(w['embed'], w['units'], batch_first=True) if w['kind'] == 'lstm' else nn.GRU(1, w['units'], batch_first=True)
    out = nn.Linear(w['units'], 1)
    params = [p for mod in (emb, rnn, out) if mod is not None for p in mod.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    lossf = nn.BCEWithLogitsLoss() if w['kind'] == 'lstm' else nn.MSELoss()
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    times, b = [], w['batch']
    for e in range(epochs + 1):
        for a in range(0, len(X), b):
            t0 = time.perf_counter()
            xb = X[a:a + b]
            h = rnn(emb(xb) if emb is not None else xb)[0][:, -1]
            loss = lossf(out(h), Y[a:a + b])
            opt.zero_grad(); loss.backward(); opt.step()
            if e: times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), 1e3 * min(times)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('workload', nargs='?', default='text-lstm')
    ap.add_argument('--threads', default='1', help="seqlearn.config.threads: a number, or 'auto' (fit's tuner chooses), or 'split' (fixed: fit's split mode)")
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--torch', action='store_true')
    a = ap.parse_args(argv)
    a.threads = a.threads if a.threads in ('auto', 'split') else int(a.threads)
    w = workloads()[a.workload]
    x, y = make_data(w)
    parts, med, best, epoch, choice = seqlearn_steps(w, x, y, a.threads, a.epochs)
    print(f"{a.workload}, seqlearn, threads={a.threads} ({choice}): step {med:.2f} ms median ({best:.2f} min); epoch {epoch:.3f} s")
    for k, v in parts.items(): print(f"  {k:28s} {v:7.2f} ms")
    print(f"  {'rest of the step':28s} {med - sum(parts.values()):7.2f} ms")
    if a.torch:
        tm, tb = torch_steps(w, x, y, a.threads, a.epochs)
        print(f"{a.workload}, PyTorch, threads={a.threads}: step {tm:.2f} ms median ({tb:.2f} min)")

if __name__ == '__main__': main()
