"""Side-by-side CPU training speed of small CNNs: seqlearn vs PyTorch vs a numpy floor (Conv1D, Conv2D, MaxPooling2D).

    python bench/cnn_speed.py                # the table: image CNN and MNIST-1D CNN, seconds per epoch (a few minutes)
    python bench/cnn_speed.py --tiny         # smoke run with tiny sizes (seconds; used by the tests)
    python bench/cnn_speed.py --mnist1d-cnn  # also the MNIST-1D CNN accuracy run (paper recipe, 3 seeds x 200 epochs; long)

Same method as train_speed.py (whose helpers this imports): each figure is the median of `--repeats` rounds after one
warm-up, in this one process; in each round every entry of a workload runs once in turn; the spread (min / median /
max) is printed, and 'tie' when seqlearn's and PyTorch's ranges overlap. PyTorch uses set_num_threads(os.cpu_count()),
seqlearn its own BLAS thread choice (seqlearn.config.threads); both are printed in the header.
The floor is the im2col-shaped matrix products alone (forward, weight gradient, input gradient; no input gradient for
the first layer, which needs none) on preallocated arrays: no im2col copies, pooling, activations, loss or optimizer.
"""
from __future__ import annotations
import argparse, contextlib, io, math, pathlib, sys, time
import numpy as np
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import (CORES, SL, interleaved, _timed, _verdict, _blas_threads, _EpochTimer, torch_or_none, torch_epoch_loop,
                         fit_memory, print_runs, _record)
from seqlearn.layers.conv import conv_output_length, same_padding

# -- workloads --------------------------------------------------------------------------------------
# A model is a list of layers: ('conv', filters, kernel, strides, padding, activation), ('pool', size), ('flatten',),
# ('dense', units, activation). Shapes are one sample's, channels last; 1 or 2 spatial dimensions.
IMAGE_CNN = [('conv', 32, 3, 1, 'valid', 'relu'), ('pool', 2), ('conv', 64, 3, 1, 'valid', 'relu'), ('pool', 2),
             ('flatten',), ('dense', 10, None)]  # logits: from_logits loss
MNIST1D_CNN = [('conv', 25, 5, 2, 'same', 'relu'), ('conv', 25, 3, 2, 'same', 'relu'), ('conv', 25, 3, 2, 'same', 'relu'),
               ('flatten',), ('dense', 10, 'softmax')]  # the MNIST-1D paper's CNN, Keras spelling

def workloads(tiny=False):
    "name -> (model, input shape, n samples, batch size, epochs per timed call, Adam learning rate)."
    if tiny:
        return {'image-cnn': (IMAGE_CNN, (12, 12, 1), 128, 32, 1, 1e-3), 'mnist1d-cnn': (MNIST1D_CNN, (40, 1), 200, 100, 2, 1e-2)}
    return {'image-cnn': (IMAGE_CNN, (28, 28, 1), 3840, 64, 1, 1e-3),        # 60 steps
            'mnist1d-cnn': (MNIST1D_CNN, (40, 1), 4000, 100, 5, 1e-2)}      # the MNIST-1D training set's size, 5 epochs

def make_data(in_shape, n, classes=10, seed=0):
    "float32 inputs and random labels from a fixed seed (values do not matter for speed)."
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *in_shape)).astype(np.float32), rng.integers(0, classes, n).astype(np.int64)

def walk(model, in_shape):
    "Each layer as (spec, input shape, output shape), channels last; 'same' and 'valid' as Keras computes them."
    out, shape = [], tuple(in_shape)
    for spec in model:
        kind = spec[0]
        if kind == 'conv':
            _, f, k, s, pad, _ = spec
            sp = [conv_output_length(L, k, s, pad) for L in shape[:-1]]
            new = (*sp, f)
        elif kind == 'pool': new = (*[L // spec[1] for L in shape[:-1]], shape[-1])
        elif kind == 'flatten': new = (math.prod(shape),)
        else: new = (spec[1],)
        out.append((spec, shape, new)); shape = new
    return out

def describe(model, in_shape):
    names = {'conv': lambda s: f"Conv{len(in_shape) - 1}D({s[1]},{s[2]}" + (f",s{s[3]}" if s[3] > 1 else '') + (',same' if s[4] == 'same' else '') + ')',
             'pool': lambda s: f"MaxPool{s[1]}", 'flatten': lambda s: 'Flatten', 'dense': lambda s: f"Dense({s[1]})"}
    return f"{'x'.join(map(str, in_shape))} " + ' '.join(names[s[0]](s) for s in model)

# -- seqlearn ---------------------------------------------------------------------------------------
def torch_like_init(fan_in):
    "PyTorch's default init for a layer with this fan-in: kernel U(+-1/sqrt(fan_in)) (kaiming_uniform, a=sqrt(5)), bias the same."
    from seqlearn.initializers import VarianceScaling, RandomUniform
    b = 1 / math.sqrt(fan_in)
    return {'kernel_initializer': VarianceScaling(scale=1 / 3, mode='fan_in', distribution='uniform'),
            'bias_initializer': RandomUniform(-b, b)}

def seqlearn_cnn(model, in_shape, seed=0, lr=1e-3, torch_init=False):
    from seqlearn import Sequential, Flatten, Dense, set_seed, losses
    from seqlearn.layers import Conv1D, Conv2D, MaxPooling2D
    from seqlearn.optimizers import Adam
    set_seed(seed)
    conv = Conv1D if len(in_shape) == 2 else Conv2D
    layers = []
    for i, (spec, si, _) in enumerate(walk(model, in_shape)):
        kw = {'input_shape': tuple(in_shape)} if i == 0 else {}
        if spec[0] == 'conv':
            _, f, k, s, pad, act = spec
            if torch_init: kw.update(torch_like_init(k ** (len(si) - 1) * si[-1]))
            layers.append(conv(f, k, strides=s, padding=pad, activation=act, **kw))
        elif spec[0] == 'pool': layers.append(MaxPooling2D(**kw))
        elif spec[0] == 'flatten': layers.append(Flatten(**kw))
        else:
            if torch_init: kw.update(torch_like_init(si[-1]))
            layers.append(Dense(spec[1], activation=spec[2], **kw))
    m = Sequential(layers)
    logits = model[-1][2] is None
    m.compile(optimizer=Adam(learning_rate=lr), metrics=['accuracy'],
              loss=losses.SparseCategoricalCrossentropy(from_logits=True) if logits else 'sparse_categorical_crossentropy')
    return m

def seqlearn_runner(model, in_shape, x, y, batch, epochs, lr):
    "`epochs` epochs of fit per call; seconds per epoch from a callback (fit's one-off input checks are not counted)."
    m = seqlearn_cnn(model, in_shape, lr=lr); t = _EpochTimer()
    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=[t.cb])
        return float(sum(t.times[-epochs:]) / epochs)
    return run

def memory_seqlearn(model, in_shape, x, y, batch, epochs=3, lr=1e-3):
    """tracemalloc over a fit after one warm-up fit (`train_speed.fit_memory`): the peak above the start, the growth of
    held memory between the first and the last epoch, and one batch of activations (every layer's output, float32) for scale."""
    peak, growth = fit_memory(seqlearn_cnn(model, in_shape, lr=lr), x, y, batch, epochs)
    acts = batch * sum(math.prod(so) for _, _, so in walk(model, in_shape)) * 4
    return {'peak_mb': peak / 2**20, 'growth_kb': growth / 2**10, 'batch_acts_mb': acts / 2**20}

# -- numpy floor ------------------------------------------------------------------------------------
def floor_gemms(model, in_shape, batch):
    "(M, K, N, input gradient needed) of each conv's im2col product (M = batch x output positions, K = taps x channels) and the dense's."
    shapes, first = [], True
    for spec, si, so in walk(model, in_shape):
        if spec[0] == 'conv': shapes.append((batch * math.prod(so[:-1]), spec[2] ** (len(si) - 1) * si[-1], spec[1], not first))
        elif spec[0] == 'dense': shapes.append((batch, si[-1], spec[1], not first))
        else: continue
        first = False
    return shapes

def floor_runner(model, in_shape, n, batch):
    "Per step: cols @ W (forward), cols.T @ dZ (weight gradient), dZ @ W.T (input gradient), for every layer with weights."
    rng = np.random.default_rng(0)
    arrs = []
    for M, K, N, need in floor_gemms(model, in_shape, batch):
        r = lambda *s: rng.normal(size=s).astype(np.float32)
        arrs.append((r(M, K), r(K, N), np.empty((M, N), np.float32), np.empty((K, N), np.float32), r(M, N),
                     np.empty((M, K), np.float32) if need else None))
    steps = n // batch
    def epoch():
        for _ in range(steps):
            for cols, w, z, dw, g, dcols in arrs: np.matmul(cols, w, out=z)
            for cols, w, z, dw, g, dcols in reversed(arrs):
                np.matmul(cols.T, g, out=dw)
                if dcols is not None: np.matmul(g, w.T, out=dcols)
    run = _timed(epoch)
    return lambda: run() * n / (steps * batch)  # scaled to the whole data (the floor skips the last partial batch)

# -- PyTorch ----------------------------------------------------------------------------------------
def torch_cnn(torch, model, in_shape, seed=0):
    "The same network channels-first, PyTorch's default init; Keras 'same' padding (left = total // 2) as an explicit zero pad."
    nn = torch.nn
    torch.manual_seed(seed)
    d = len(in_shape) - 1
    mods = []
    for spec, si, so in walk(model, in_shape):
        if spec[0] == 'conv':
            _, f, k, s, pad, act = spec
            if pad == 'same':
                p = [w for L in reversed(si[:-1]) for w in same_padding(L, k, s)]  # F.pad order: last dimension first
                if any(p): mods.append(nn.ZeroPad1d(tuple(p)) if d == 1 else nn.ZeroPad2d(tuple(p)))
            mods.append((nn.Conv1d if d == 1 else nn.Conv2d)(si[-1], f, k, stride=s))
            if act == 'relu': mods.append(nn.ReLU())
        elif spec[0] == 'pool': mods.append(nn.MaxPool2d(spec[1]) if d == 2 else nn.MaxPool1d(spec[1]))
        elif spec[0] == 'flatten': mods.append(nn.Flatten())
        else: mods.append(nn.Linear(si[-1], spec[1]))  # logits; CrossEntropyLoss applies the softmax
    return nn.Sequential(*mods)

def channels_first(x): return np.ascontiguousarray(np.moveaxis(x, -1, 1))

def torch_epoch_fn(torch, model, in_shape, x, y, batch, lr=1e-3, seed=0):
    "One epoch: a new random order, mini-batches gathered from it, Adam."
    net = torch_cnn(torch, model, in_shape, seed=seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    lossf = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(channels_first(x)), torch.from_numpy(y)
    return net, torch_epoch_loop(torch, net, opt, lossf, xt, yt, batch)

def torch_runner(torch, model, in_shape, x, y, batch, epochs, lr):
    _, epoch = torch_epoch_fn(torch, model, in_shape, x, y, batch, lr=lr)
    def run():
        for _ in range(epochs): epoch()
    t = _timed(run)
    return lambda: t() / epochs

# -- MNIST-1D CNN accuracy --------------------------------------------------------------------------
def mnist1d_cnn_run(torch, seeds=(0, 1, 2), epochs=200, batch=100, lr=1e-2, targets=True):
    "The paper's recipe: test accuracy and wall time per run, seqlearn (Keras init and PyTorch-like init) and PyTorch."
    from mnist1d.data import make_dataset, get_dataset_args
    d = make_dataset(get_dataset_args())
    x, y = d['x'].astype(np.float32)[..., None], d['y'].astype(np.int64)
    xt, yt = d['x_test'].astype(np.float32)[..., None], d['y_test'].astype(np.int64)
    in_shape = x.shape[1:]
    res = {SL: [], f'{SL} (torch init)': [], 'pytorch': []}
    for s in seeds:
        print(f"  mnist1d-cnn: seed {s} ...", file=sys.stderr, flush=True)
        for key, torch_init in ((SL, False), (f'{SL} (torch init)', True)):
            m = seqlearn_cnn(MNIST1D_CNN, in_shape, seed=s, lr=lr, torch_init=torch_init)
            t0 = time.perf_counter()
            m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
            t = time.perf_counter() - t0
            acc = float((m.predict(xt, batch_size=1000, verbose=0).argmax(1) == yt).mean())
            res[key].append((acc, t))
        if torch is not None:
            net, epoch = torch_epoch_fn(torch, MNIST1D_CNN, in_shape, x, y, batch, lr=lr, seed=s)
            t0 = time.perf_counter()
            for _ in range(epochs): epoch()
            t = time.perf_counter() - t0
            net.eval()
            with torch.inference_mode(): acc = float((net(torch.from_numpy(channels_first(xt))).argmax(1).numpy() == yt).mean())
            res['pytorch'].append((acc, t))
    print(f"\nMNIST-1D CNN: {len(x)} train / {len(xt)} test, {describe(MNIST1D_CNN, in_shape)}, Adam lr {lr:g}, batch {batch}, "
          f"{epochs} epochs, shuffled each epoch, seeds {list(seeds)}")
    print_runs(res, 22, 'not run')
    if targets and res[SL] and res['pytorch']:
        sl_t, pt_t = (np.mean([t for _, t in res[k]]) for k in (SL, 'pytorch'))
        sl_a = np.mean([a for a, _ in res[SL]])
        print(f"  targets: seqlearn wall time <= PyTorch's: {'met' if sl_t <= pt_t else 'NOT met'} ({sl_t / pt_t:.2f}x); "
              f"seqlearn mean accuracy >= 92.5%: {'met' if sl_a >= .925 else 'NOT met'} ({100 * sl_a:.1f}%)")
    return res

# -- main -------------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tiny', action='store_true', help='tiny sizes: a smoke run in seconds (no meaningful timings)')
    ap.add_argument('--mnist1d-cnn', action='store_true', help='also the MNIST-1D CNN accuracy run (3 seeds x 200 epochs)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='seeds of the --mnist1d-cnn run')
    ap.add_argument('--repeats', type=int, default=5, help='timed rounds (median reported), after one warm-up; entries interleave')
    ap.add_argument('--only', nargs='*', help='workloads to run (default: all)')
    ap.add_argument('--no-peers', action='store_true', help='skip PyTorch')
    args = ap.parse_args(argv)
    repeats = max(1, args.repeats if not args.tiny else 1)
    torch = None if args.no_peers else torch_or_none()
    print(f"cnn_speed: numpy {np.__version__}, {CORES} cores"
          + (f", torch {torch.__version__} with set_num_threads({torch.get_num_threads()})" if torch else ", torch: not installed")
          + f"; seqlearn.config.threads={__import__('seqlearn').config.threads!r} (BLAS threads available: {_blas_threads()})"
          + f"; median of {repeats} interleaved rounds after 1 warm-up" + (' [--tiny: sizes are not meaningful]' if args.tiny else ''))
    rows, mem = [], None
    for name, (model, in_shape, n, batch, epochs, lr) in workloads(args.tiny).items():
        if args.only and name not in args.only: continue
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        x, y = make_data(in_shape, n)
        r = {'workload': name, 'model': describe(model, in_shape), 'n': n, 'batch': batch, 'epochs': epochs, SL: None, 'pytorch': None}
        sp = interleaved({'floor': floor_runner(model, in_shape, n, batch),
                          SL: seqlearn_runner(model, in_shape, x, y, batch, epochs, lr),
                          'pytorch': torch_runner(torch, model, in_shape, x, y, batch, epochs, lr) if torch else None}, repeats, spread=True)
        _record(r, sp)
        if name == 'image-cnn': mem = memory_seqlearn(model, in_shape, x, y, batch, epochs=2 if args.tiny else 3, lr=lr)
        rows.append(r)
    print_table(rows, targets=not args.tiny)
    if mem is not None:
        name = 'image-cnn'
        print(f"\nmemory, seqlearn {name} fit (tracemalloc, after a warm-up fit): peak {mem['peak_mb']:.1f} MB above the start "
              f"= {mem['peak_mb'] / mem['batch_acts_mb']:.1f} batches of activations ({mem['batch_acts_mb']:.1f} MB each); held memory "
              f"grew {mem['growth_kb']:+.1f} KB from the first epoch to the last (buffers are sized once per fit)")
    if args.mnist1d_cnn:
        try:
            if args.tiny: mnist1d_cnn_run(torch, seeds=(0,), epochs=2, targets=False)
            else: mnist1d_cnn_run(torch, seeds=tuple(args.seeds))
        except ImportError as e:
            if e.name and e.name.startswith('mnist1d'): print("\nMNIST-1D CNN: the mnist1d package is not installed (pip install mnist1d); skipped.")
            else: raise
    return rows

def _target(r, limit):
    """'met' / 'NOT met' when the ratio of medians and the ratio of best rounds agree, else 'unclear': on a shared machine
    PyTorch's OpenMP threads suffer more from a neighbour's load than seqlearn's, which can flatter the medians."""
    med, best = r[SL] / r['pytorch'], r['spread'][SL][0] / r['spread']['pytorch'][0]
    v = 'met' if med <= limit and best <= limit else 'NOT met' if med > limit and best > limit else 'unclear (machine load?)'
    return f"{v} (seqlearn/pytorch: medians {med:.2f}x, best rounds {best:.2f}x)"

def print_table(rows, targets=True):
    fmt = lambda v: '   n/a' if v is None else f"{v:7.3f}"
    ratio = lambda a, b: 'n/a' if a is None or b is None else f"{a / b:.2f}x"
    print(f"\n{'workload':12s} {'batch':>5s} {'n':>6s} {'floor s':>8s} {'seqlearn':>8s} {'pytorch':>8s} {'sl/floor':>8s} {'sl/pytorch':>10s} "
          f"{'pytorch/floor':>13s}  model")
    for r in rows:
        print(f"{r['workload']:12s} {r['batch']:5d} {r['n']:6d} {fmt(r['floor']):>8s} {fmt(r[SL]):>8s} {fmt(r['pytorch']):>8s} "
              f"{ratio(r[SL], r['floor']):>8s} {ratio(r[SL], r['pytorch']):>10s} {ratio(r['pytorch'], r['floor']):>13s}  {r['model']}")
    print("(seconds per training epoch; each timed call runs the row's epochs in one fit and reports their mean; "
          "'sl' = seqlearn; ratio < 1 means seqlearn is faster)")
    print("spread over the rounds (min / median / max), and whether seqlearn's lead over PyTorch is real (ranges apart) or a tie:")
    for r in rows:
        sp = r['spread']
        f = lambda t: f"{t[0]:.3f}/{t[1]:.3f}/{t[2]:.3f}"
        verdict = f" -> seqlearn vs pytorch: {_verdict(sp[SL], sp['pytorch'])}" if SL in sp and 'pytorch' in sp else ''
        print(f"  {r['workload']:12s} " + ', '.join(f"{k} {f(v)}" for k, v in sp.items()) + verdict)
    for r in rows if targets else ():
        if r['workload'] == 'image-cnn' and r[SL] is not None and r['pytorch'] is not None:
            print(f"image-cnn target: seqlearn within 1.5x of PyTorch: {_target(r, 1.5)}")
        if r['workload'] == 'mnist1d-cnn' and r[SL] is not None and r['pytorch'] is not None:
            print(f"mnist1d-cnn target: seqlearn no slower than PyTorch: {_target(r, 1.0)}")

if __name__ == '__main__':
    main()
