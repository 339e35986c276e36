"Smoke run of the benchmark with tiny sizes: it runs end to end, with or without the optional peers. No timing assertions."
import importlib.util, pathlib, sys

def _load(name):
    "A benchmark script of bench/ as a module."
    p = pathlib.Path(__file__).resolve().parents[1] / 'bench' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(name, p)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def _bench(): return _load('train_speed')

def test_bench_tiny_runs(capsys):
    rows = _bench().main(['--tiny', '--no-peers'])
    out = capsys.readouterr().out
    assert [r['workload'] for r in rows] == ['mlp', 'small-batch', 'seed', 'predict']
    for r in rows: assert r['seqlearn'] > 0 and r['floor'] > 0 and r['pytorch'] is None
    assert 'seed: ms per training step' in out and 'predict throughput' in out and 'memory' in out
    assert "seqlearn's BLAS threads at the end of each timed round" in out and len(rows[0]['sl_threads']) == 1

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
    assert "seqlearn's BLAS threads at the end of each timed round, quiet | busy" in out


def _cnn_bench(): return _load('cnn_speed')

def test_cnn_bench_tiny_runs(capsys):
    rows = _cnn_bench().main(['--tiny', '--no-peers'])
    out = capsys.readouterr().out
    assert [r['workload'] for r in rows] == ['image-cnn', 'mnist1d-cnn']
    for r in rows: assert r['seqlearn'] > 0 and r['floor'] > 0 and r['pytorch'] is None
    assert 'torch: not installed' in out and 'spread over the rounds' in out

def test_cnn_bench_floor_shapes():
    "The floor's im2col products: (batch x output positions, taps x channels, filters), no input gradient for the first layer."
    b = _cnn_bench()
    assert b.floor_gemms(b.IMAGE_CNN, (28, 28, 1), 64) == [(64 * 26 * 26, 9, 32, False), (64 * 11 * 11, 288, 64, True), (64, 1600, 10, True)]
    assert b.walk(b.MNIST1D_CNN, (40, 1))[-2][2] == (125,)

def test_cnn_bench_torch_same_padding():
    "PyTorch's side pads as Keras 'same' does (stride 2: left = total // 2): every conv output has the length seqlearn's has."
    import pytest
    torch = pytest.importorskip('torch')
    b = _cnn_bench()
    net = b.torch_cnn(torch, b.MNIST1D_CNN, (40, 1))
    h, lengths = torch.zeros(2, 1, 40), []
    for mod in net:
        h = mod(h)
        if isinstance(mod, torch.nn.Conv1d): lengths.append(h.shape[-1])
    assert lengths == [so[0] for s, si, so in b.walk(b.MNIST1D_CNN, (40, 1)) if s[0] == 'conv'] == [20, 10, 5]
    assert tuple(h.shape) == (2, 10)
    assert [m.padding for m in net if isinstance(m, torch.nn.ZeroPad1d)] == [(1, 2), (0, 1), (0, 1)]


def test_profile_phases_split_a_step(capsys):
    "profile_epoch --phases: every phase of a step, in microseconds per step, and the methods it wrapped put back."
    from seqlearn import trainer
    update, batch = trainer._Tracker.update, trainer._Gather.batch
    _load('profile_epoch').main(['seed', '--phases'])
    out = capsys.readouterr().out
    for phase in ('gather', 'forward', 'loss', 'backward', 'finite check', 'optimizer', 'metrics', 'rest'):
        assert phase in out, phase
    assert 'us per step' in out
    assert trainer._Tracker.update is update and trainer._Gather.batch is batch
