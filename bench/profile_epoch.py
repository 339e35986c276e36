"""cProfile of seqlearn training epochs: where the time goes (issue 6).

    python bench/profile_epoch.py [mlp|small-batch|seed] [--epochs 1] [--top 25]
"""
import argparse, cProfile, io, pathlib, pstats, sys, time
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from train_speed import workloads, make_data, seqlearn_model

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('workload', nargs='?', default='mlp')
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--top', type=int, default=25)
    a = ap.parse_args(argv)
    sizes, kind, n, batch = workloads()[a.workload]
    x, y = make_data(sizes, kind, n)
    m = seqlearn_model(sizes, kind)
    m.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    pr = cProfile.Profile()
    t0 = time.perf_counter(); pr.enable()
    m.fit(x, y, batch_size=batch, epochs=a.epochs, verbose=0)
    pr.disable(); t = time.perf_counter() - t0
    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats('tottime').print_stats(a.top)
    print(f"{a.workload}: {a.epochs} epoch(s) of fit under cProfile: {t:.3f} s wall")
    print(s.getvalue())

if __name__ == '__main__':
    main()
