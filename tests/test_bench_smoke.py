"Smoke run of the benchmark with tiny sizes: it runs end to end, with or without the optional peers. No timing assertions."
import importlib.util, pathlib, sys

def _bench():
    p = pathlib.Path(__file__).resolve().parents[1] / 'bench' / 'train_speed.py'
    spec = importlib.util.spec_from_file_location('train_speed', p)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def test_bench_tiny_runs(capsys):
    rows = _bench().main(['--tiny', '--no-peers'])
    out = capsys.readouterr().out
    assert [r['workload'] for r in rows] == ['mlp', 'small-batch', 'seed', 'predict']
    for r in rows: assert r['seqlearn'] > 0 and r['floor'] > 0 and r['pytorch'] is None
    assert 'seed: ms per training step' in out and 'predict throughput' in out and 'memory' in out

def test_bench_tiny_missing_peers_reported(capsys, monkeypatch):
    b = _bench()
    monkeypatch.setattr(b, 'torch_or_none', lambda: None); monkeypatch.setattr(b, 'sklearn_or_none', lambda: None)
    b.main(['--tiny', '--only', 'seed'])
    out = capsys.readouterr().out
    assert 'torch: not installed' in out and 'scikit-learn: not installed' in out


def test_bench_tiny_contention_mode(capsys):
    rows = _bench().main(['--tiny', '--no-peers', '--contention'])
    out = capsys.readouterr().out
    assert [r['workload'] for r in rows] == ['mnist1d-mlp', 'seed', 'mlp']
    assert all(r['busy']['seqlearn'][1] > 0 for r in rows) and 'busy/quiet' in out
