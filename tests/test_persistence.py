"""Save/load: exact round trips, continuing fit, atomic writes, clear errors on bad files, no pickle."""
import json, os, pathlib, subprocess, sys, zipfile
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Dense, Dropout, Activation, Flatten, Input, set_seed, clear_session, register_layer
from seqlearn.models import load_model, model_from_json, ModelFileError
from seqlearn.optimizers import SGD, Adam, ExponentialDecay

rng = np.random.default_rng(0)
X = rng.normal(size=(48, 4)).astype('float32')
Y = rng.integers(0, 3, 48)


def make(opt='adam', metrics=('accuracy',)):
    set_seed(3); clear_session()
    m = Sequential([Input((4,)), Dense(8, activation='relu'), Dense(3, activation='softmax')])
    m.compile(optimizer=opt, loss='sparse_categorical_crossentropy', metrics=list(metrics))
    return m


@pytest.mark.parametrize('opt', ['adam', 'nadam', 'rmsprop', 'adagrad', 'adamw', lambda: SGD(0.1, momentum=0.9, nesterov=True),
                                 lambda: Adam(ExponentialDecay(0.01, 5, 0.9), amsgrad=True, clipnorm=1.0)])
def test_fit_continues_exactly(tmp_path, opt):
    o = opt if isinstance(opt, str) else None
    straight = make(o or opt()); straight.fit(X, Y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    a = make(o or opt()); a.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    a.save(tmp_path / 'm.seqlearn')
    b = load_model(tmp_path / 'm.seqlearn')
    assert np.array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))
    assert b.optimizer.iterations == a.optimizer.iterations == 6
    assert b.optimizer.get_config() == a.optimizer.get_config()
    b.fit(X, Y, epochs=4, initial_epoch=2, batch_size=16, shuffle=False, verbose=0)
    for w1, w2 in zip(straight.get_weights(), b.get_weights()): assert np.array_equal(w1, w2)


def test_fresh_process_round_trip(tmp_path):
    """As a new user would: save, load in another Python process, continue training: same numbers."""
    straight = make(); straight.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    a = make(); a.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    a.save(tmp_path / 'm.seqlearn'); np.save(tmp_path / 'x.npy', X); np.save(tmp_path / 'y.npy', Y)
    code = f"""
import numpy as np, seqlearn
m = seqlearn.models.load_model({str(tmp_path / 'm.seqlearn')!r})
x, y = np.load({str(tmp_path / 'x.npy')!r}), np.load({str(tmp_path / 'y.npy')!r})
m.fit(x, y, epochs=3, initial_epoch=1, batch_size=16, shuffle=False, verbose=0)
m.save_weights({str(tmp_path / 'w.seqlearn')!r})
"""
    subprocess.run([sys.executable, '-c', code], check=True)
    c = make(); c.load_weights(tmp_path / 'w.seqlearn')
    for w1, w2 in zip(straight.get_weights(), c.get_weights()): assert np.array_equal(w1, w2)


def test_uncompiled_and_unbuilt(tmp_path):
    m = Sequential([Dense(2, input_shape=(3,))])
    m.save(tmp_path / 'u.seqlearn')
    m2 = load_model(tmp_path / 'u.seqlearn')
    assert not getattr(m2, 'compiled', False)
    assert all(np.array_equal(a, b) for a, b in zip(m.get_weights(), m2.get_weights()))
    with pytest.raises(ValueError, match='not built'):
        Sequential([Dense(2)]).save(tmp_path / 'n.seqlearn')


def test_save_weights_load_weights_and_into_unbuilt(tmp_path):
    a = make(); a.fit(X, Y, epochs=1, verbose=0)
    a.save_weights(tmp_path / 'w.seqlearn')
    b = Sequential([Dense(8, activation='relu'), Dense(3, activation='softmax')])  # not built: shape comes from the file
    b.load_weights(tmp_path / 'w.seqlearn')
    assert np.array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))


def test_load_weights_mismatch_names_layer_and_shapes(tmp_path):
    make().save_weights(tmp_path / 'w.seqlearn')
    m = Sequential([Input((4,)), Dense(8, activation='relu', name='hid'), Dense(2, name='out')])
    before = m.get_weights()
    with pytest.raises(ValueError) as e: m.load_weights(tmp_path / 'w.seqlearn')
    msg = str(e.value)
    assert "layer 'out'" in msg and '(8, 2)' in msg and '(8, 3)' in msg and 'w.seqlearn' in msg
    assert all(np.array_equal(x, y) for x, y in zip(before, m.get_weights()))  # nothing assigned
    m3 = Sequential([Input((4,)), Dense(8, activation='relu', name='hid')])
    with pytest.raises(ValueError, match='the file has more weights'): m3.load_weights(tmp_path / 'w.seqlearn')


def test_json_round_trip():
    m = make()
    m2 = model_from_json(m.to_json())
    assert m2.get_config()['layers'] == m.get_config()['layers']
    with pytest.raises(ValueError, match='model.to_json'): model_from_json('{"a": 1}')


def test_custom_layer_registry(tmp_path):
    class Scale(seqlearn.Layer):
        def __init__(self, factor=2.0, **kw): super().__init__(**kw); self.factor = factor
        def forward(self, x, training=False): return x * self.factor
        def backward(self, grad): return grad * self.factor
        def get_config(self): return {**super().get_config(), 'factor': self.factor}
    m = Sequential([Input((4,)), Scale(3.0, name='scale'), Dense(1)]); m.compile('sgd', 'mse')
    m.save(tmp_path / 'c.seqlearn')
    with pytest.raises(ModelFileError) as e: load_model(tmp_path / 'c.seqlearn')
    assert "Unknown layer class 'Scale'" in str(e.value) and 'register_layer' in str(e.value) and "custom_objects={'Scale': Scale}" in str(e.value)
    m2 = load_model(tmp_path / 'c.seqlearn', custom_objects={'Scale': Scale})
    assert np.array_equal(m.predict(X, verbose=0), m2.predict(X, verbose=0))
    register_layer(Scale)
    try: assert load_model(tmp_path / 'c.seqlearn').layers[0].factor == 3.0
    finally: seqlearn.core.LAYER_CLASSES.pop('Scale')


def test_custom_activation_loss_metric(tmp_path):
    def cube(x): return x ** 3
    def my_loss(y, p): return (y - p) ** 2
    def my_metric(y, p): return np.abs(y - p).mean(axis=-1)
    m = Sequential([Input((4,)), Dense(2, activation=cube), Dense(1)])
    m.compile('adam', loss=my_loss, metrics=[my_metric, 'mae'])
    m.fit(X, X[:, :1], epochs=1, verbose=0)
    m.save(tmp_path / 'f.seqlearn')
    with pytest.raises(ModelFileError, match="custom_objects=\\{'cube': cube\\}"): load_model(tmp_path / 'f.seqlearn')
    with pytest.raises(ModelFileError, match="custom_objects=\\{'my_loss': my_loss\\}"):
        load_model(tmp_path / 'f.seqlearn', custom_objects={'cube': cube})
    m2 = load_model(tmp_path / 'f.seqlearn', custom_objects={'cube': cube, 'my_loss': my_loss, 'my_metric': my_metric})
    assert np.array_equal(m.predict(X, verbose=0), m2.predict(X, verbose=0))
    assert m2.evaluate(X, X[:, :1], verbose=0, return_dict=True).keys() == {'loss', 'my_metric', 'mae'}


def test_atomic_write_keeps_old_file(tmp_path, monkeypatch):
    m = make(); m.save(tmp_path / 'm.seqlearn')
    good = (tmp_path / 'm.seqlearn').read_bytes()
    m.fit(X, Y, epochs=1, verbose=0)
    import seqlearn.saving as sm
    calls = {'n': 0}
    real = sm._npy_bytes
    def failing(a):
        calls['n'] += 1
        if calls['n'] == 3: raise OSError(28, 'No space left on device')
        return real(a)
    monkeypatch.setattr(sm, '_npy_bytes', failing)
    with pytest.raises(OSError, match='No space'): m.save(tmp_path / 'm.seqlearn')
    assert (tmp_path / 'm.seqlearn').read_bytes() == good
    assert os.listdir(tmp_path) == ['m.seqlearn']  # no temporary file left behind


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for n in zin.namelist():
            data = change(n, zin.read(n))
            if data is not None: zout.writestr(n, data)


def test_bad_files_give_one_clear_error(tmp_path):
    m = make(); m.fit(X, Y, epochs=1, verbose=0); p = tmp_path / 'm.seqlearn'; m.save(p)
    raw = p.read_bytes()
    cases = {}
    (tmp_path / 'trunc.seqlearn').write_bytes(raw[:len(raw) // 2]); cases['trunc.seqlearn'] = 'truncated'
    (tmp_path / 'text.seqlearn').write_text('hello'); cases['text.seqlearn'] = 'not a seqlearn file'
    with zipfile.ZipFile(tmp_path / 'other.zip', 'w') as z: z.writestr('a.txt', 'x')
    cases['other.zip'] = 'not a seqlearn file'
    def version(n, d):
        if n != 'seqlearn.json': return d
        j = json.loads(d); j['format_version'] = 99; return json.dumps(j)
    _rewrite(p, tmp_path / 'v99.seqlearn', version); cases['v99.seqlearn'] = 'format version 99'
    _rewrite(p, tmp_path / 'nocfg.seqlearn', lambda n, d: None if n == 'config.json' else d); cases['nocfg.seqlearn'] = "'config.json' is missing"
    _rewrite(p, tmp_path / 'badjson.seqlearn', lambda n, d: b'{oops' if n == 'compile.json' else d); cases['badjson.seqlearn'] = 'not valid JSON'
    _rewrite(p, tmp_path / 'obj.seqlearn', lambda n, d: _obj_npy() if n == 'weights/0000.npy' else d); cases['obj.seqlearn'] = 'Python objects'
    _rewrite(p, tmp_path / 'shape.seqlearn', lambda n, d: _npy(np.zeros((2, 2), 'float32')) if n == 'weights/0000.npy' else d)
    cases['shape.seqlearn'] = 'corrupted'
    # flip bytes inside a stored array: the zip CRC catches it
    i = raw.find(b'NUMPY') + 200
    (tmp_path / 'flip.seqlearn').write_bytes(raw[:i] + bytes(b ^ 0xFF for b in raw[i:i + 8]) + raw[i + 8:])
    cases['flip.seqlearn'] = 'Cannot load'
    for name, what in cases.items():
        with pytest.raises(ModelFileError) as e: load_model(tmp_path / name)
        assert str(tmp_path / name) in str(e.value) and what in str(e.value), (name, str(e.value))
    with pytest.raises(FileNotFoundError, match='nope.seqlearn'): load_model(tmp_path / 'nope.seqlearn')


def _npy(a):
    import io
    b = io.BytesIO(); np.save(b, a); return b.getvalue()


def _obj_npy():
    import io
    b = io.BytesIO(); np.save(b, np.array([{'a': 1}, None], dtype=object), allow_pickle=True); return b.getvalue()


def test_unserialisable_compile_settings_fail_before_writing(tmp_path):
    m = Sequential([Input((4,)), Dense(1)]); m.compile(optimizer=SGD(learning_rate=lambda step: 0.1), loss='mse')
    with pytest.raises(TypeError, match='not plain data'): m.save(tmp_path / 'x.seqlearn')
    assert not (tmp_path / 'x.seqlearn').exists()
    m.save_weights(tmp_path / 'w.seqlearn')  # weights alone still work


def test_no_pickle_in_package():
    root = pathlib.Path(seqlearn.__file__).parent
    for f in root.rglob('*.py'):
        text = f.read_text()
        assert 'import pickle' not in text and 'allow_pickle=True' not in text, f
        assert 'cPickle' not in text and 'from pickle' not in text, f


def test_model_checkpoint_and_backup(tmp_path):
    from seqlearn.callbacks import ModelCheckpoint, BackupAndRestore, LambdaCallback
    m = make()
    ck = ModelCheckpoint(str(tmp_path / 'e{epoch}-{val_loss:.2f}.seqlearn'), save_best_only=True)
    m.fit(X, Y, epochs=3, batch_size=8, validation_split=0.25, verbose=0, callbacks=[ck])
    files = sorted(tmp_path.glob('e*.seqlearn'))
    assert files and files[0].name.startswith('e1-')
    best = load_model(files[-1])
    assert best.evaluate(X[36:], Y[36:], verbose=0, return_dict=True)['loss'] == pytest.approx(ck.best, rel=1e-5)
    # resume: crash (exception that escapes fit) in epoch 2, then fit again
    straight = make(); straight.fit(X, Y, epochs=4, batch_size=8, verbose=0)
    m = make(); bk = BackupAndRestore(tmp_path / 'bk')
    class Crash(Exception): pass
    def crash(batch, logs):
        if m.optimizer.iterations == 14: raise Crash
    with pytest.raises(Crash): m.fit(X, Y, epochs=4, batch_size=8, verbose=0, callbacks=[bk, LambdaCallback(on_train_batch_end=crash)])
    m2 = make()  # a new process would rebuild the model from code
    h = m2.fit(X, Y, epochs=4, batch_size=8, verbose=0, callbacks=[BackupAndRestore(tmp_path / 'bk')])
    assert h.epoch == [2, 3]
    for a, b in zip(straight.get_weights(), m2.get_weights()): assert np.array_equal(a, b)
    assert not (tmp_path / 'bk' / 'latest.seqlearn').exists()
