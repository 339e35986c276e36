"""cProfile of seqlearn training epochs: where the time goes (issue 6).

    python bench/profile_epoch.py [mlp|small-batch|seed|image-cnn|mnist1d-cnn] [--epochs 1] [--top 25] [--lines] [--phases]

`--phases`: microseconds per training step in each phase (batch gather, forward, loss, backward, finiteness check,
optimizer, metrics, the rest), timed by wrapping those methods: far less overhead than cProfile, so the split of a
step is close to an unprofiled run's (no cProfile run then). `--lines`: wall time per source line of seqlearn's layers (per layer), from line events: numpy's ufuncs and matmul do not
show in cProfile (only the Python function that calls them), this says which product or copy it is.
"""
import argparse, cProfile, io, pathlib, pstats, sys, time
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import workloads, make_data, seqlearn_model, _threads_used
import cnn_speed

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('workload', nargs='?', default='mlp')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--top', type=int, default=25)
    ap.add_argument('--lines', action='store_true', help='also time each line of the layers (per layer) over the same epochs')
    ap.add_argument('--phases', action='store_true', help='only: microseconds per step in each phase of a step (low overhead)')
    a = ap.parse_args(argv)
    if a.workload in cnn_speed.workloads():
        model, in_shape, n, batch, _, lr = cnn_speed.workloads()[a.workload]
        x, y = cnn_speed.make_data(in_shape, n)
        m = cnn_speed.seqlearn_cnn(model, in_shape, lr=lr)
    else:
        sizes, kind, n, batch = workloads()[a.workload]
        x, y = make_data(sizes, kind, n)
        m = seqlearn_model(sizes, kind)
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    if a.phases: return phase_times(m, x, y, batch, a.epochs)
    pr = cProfile.Profile()
    t0 = time.perf_counter(); pr.enable()
    m.fit(x, y, batch_size=batch, epochs=a.epochs, verbose=0)
    pr.disable(); t = time.perf_counter() - t0
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(a.top)
    print(f"{a.workload}: {a.epochs} epoch(s) of fit under cProfile: {t:.3f} s wall")
    print(s.getvalue())
    if a.lines: line_times(m, x, y, batch, a.epochs, a.top)

def phase_times(m, x, y, batch, epochs):
    "Microseconds per step in each phase, from wrappers around the model's, optimizer's, losses' and metrics' methods."
    import collections
    from seqlearn import trainer
    acc, P = collections.Counter(), time.perf_counter
    def timed(f, key):
        def g(*args, **kw):
            t0 = P(); r = f(*args, **kw); acc[key] += P() - t0; return r
        return g
    loss = m._loss_items[0][1]; tracker_update = trainer._Tracker.update; gather = trainer._Gather.batch
    m.forward_pass, m.backward_pass = timed(m.forward_pass, 'forward'), timed(m.backward_pass, 'backward')
    m.optimizer.step = timed(m.optimizer.step, 'optimizer')
    m._flat.grads_finite = timed(m._flat.grads_finite, 'finite check')
    for name in ('values', 'logits_gradient', 'gradient'): setattr(loss, name, timed(getattr(loss, name), 'loss'))
    trainer._Tracker.update, trainer._Gather.batch = timed(tracker_update, 'metrics'), timed(gather, 'gather')
    try:
        t0 = P(); m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0); t = P() - t0
    finally: trainer._Tracker.update, trainer._Gather.batch = tracker_update, gather
    steps = epochs * -(-len(x) // batch)
    acc['rest (fit loop, callbacks, thread tuner)'] = t - sum(acc.values())
    choice = _threads_used(m)
    print(f"{epochs} epoch(s), {steps} steps, {1e6 * t / steps:.0f} us per step (threads: {choice}):")
    for k, v in acc.items(): print(f"  {k:42s} {1e6 * v / steps:7.0f} us  {100 * v / t:5.1f}%")

def line_times(m, x, y, batch, epochs, top):
    "Seconds spent on each line of seqlearn/layers/*.py during `epochs` epochs of fit, by layer (a line's callees included)."
    import collections, linecache, os
    acc, last = collections.Counter(), {}
    def tracer(frame, event, arg):
        if os.sep + 'layers' + os.sep not in frame.f_code.co_filename: return None
        def local(frame, event, arg):
            now, key = time.perf_counter(), id(frame)
            if key in last: acc[last[key][0]] += now - last[key][1]
            if event == 'line':
                who = getattr(frame.f_locals.get('self'), 'name', '?')
                last[key] = ((who, frame.f_code.co_filename, frame.f_lineno), time.perf_counter())
            elif event == 'return': last.pop(key, None)
            return local
        return local
    t0 = time.perf_counter(); sys.settrace(tracer)
    try: m.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    finally: sys.settrace(None)
    t = time.perf_counter() - t0
    print(f"{epochs} epoch(s) of fit under line tracing: {t:.3f} s wall; the layers' lines by time (a line that calls another "
          f"layer function includes it):")
    for (who, f, ln), v in acc.most_common(top):
        print(f"{v:8.3f} s {100 * v / t:5.1f}%  {who:16s} {pathlib.Path(f).name}:{ln}  {linecache.getline(f, ln).strip()[:100]}")

if __name__ == '__main__':
    main()
