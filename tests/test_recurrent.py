"""Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional): Keras 3's numbers (tests/fixtures/keras_recurrent.npz, made
by make_keras_recurrent.py: outputs, states and gradients of single layers with masks, initial states, go_backwards,
return_state; tiny LSTM models trained with SGD and Adam), numerical gradients for every option, masks, stateful
layers, dropout, configs and files, the time axis of any length, and the errors that teach."""
import json, pathlib
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Model, Input, Dense, Embedding, Reshape, set_seed, optimizers
from seqlearn.layers import SimpleRNN, LSTM, GRU, Bidirectional, Recurrent, gradient_check
from seqlearn.core import numerical_gradient
from seqlearn.initializers import get_initializer, Orthogonal
from seqlearn.models import load_model
from seqlearn.models.graph import graph_gradient_check

HERE = pathlib.Path(__file__).parent / 'fixtures'
DATA = np.load(HERE / 'keras_recurrent.npz', allow_pickle=False)
META = json.loads(str(DATA['cases']))
LAYER_CASES = {c['name']: c for c in META['layer_cases']}
MODEL_CASES = {c['name']: c for c in META['model_cases']}
ATOL = 1e-5
CLASSES = {'SimpleRNN': SimpleRNN, 'LSTM': LSTM, 'GRU': GRU}


def _as_list(y): return list(y) if isinstance(y, (list, tuple)) else [y]


# ---------------------------------------------------------------------------------------------------------------
# Keras 3's numbers
# ---------------------------------------------------------------------------------------------------------------
def _keras_layer(case):
    layer = CLASSES[case['class']](**case['config'])
    return layer if case['wrap'] is None else Bidirectional(layer, **case['wrap'])


@pytest.mark.parametrize('name', list(LAYER_CASES))
def test_layer_matches_keras(name):
    "Same weights, input, mask and initial states: Keras's outputs, and its gradients of sum(y * r) for x, states and weights."
    case, p = LAYER_CASES[name], f'layers/{name}'
    layer = _keras_layer(case)
    x = DATA[f'{p}/x']
    states = [DATA[f'{p}/state/{i}'] for i in range(case['states'])]
    mask = DATA[f'{p}/mask'] if case['mask'] else None
    layer(x, initial_state=states or None)
    assert [list(w.shape) for w in layer.weights] == case['weight_shapes']
    layer.set_weights([DATA[f'{p}/w/{i}'] for i in range(len(layer.weights))])
    ys = _as_list(layer.call([x, *states] if states else x, training=False, mask=mask))
    assert len(ys) == case['n_outputs']
    for i, y in enumerate(ys): np.testing.assert_allclose(y, DATA[f'{p}/y/{i}'], atol=ATOL, err_msg=f'output {i}')
    rs = [DATA[f'{p}/r/{i}'] for i in range(len(ys))]
    grads = _as_list(layer.backward(rs if len(rs) > 1 else rs[0]))
    np.testing.assert_allclose(grads[0], DATA[f'{p}/dx'], atol=ATOL, err_msg='dx')
    for i in range(case['states']): np.testing.assert_allclose(grads[1 + i], DATA[f'{p}/dstate/{i}'], atol=ATOL, err_msg=f'state {i}')
    for i, w in enumerate(layer.weights): np.testing.assert_allclose(w.grad, DATA[f'{p}/dw/{i}'], atol=ATOL, err_msg=w.name)


@pytest.mark.parametrize('name', list(MODEL_CASES))
def test_model_training_matches_keras(name):
    "Sequential([Input((5, 4)), LSTM(8), Dense(1)]) (and with a target per step), 2 epochs of SGD or Adam: Keras's history and weights."
    case, p = MODEL_CASES[name], f'models/{name}'
    model = Sequential([Input((5, 4)), LSTM(8, return_sequences=case['sequence']), Dense(1)])
    model.set_weights([DATA[f'{p}/w_init/{i}'] for i in range(5)])
    model.compile(optimizer=getattr(optimizers, case['optimizer']['class'])(**case['optimizer']['config']), loss='mse')
    h = model.fit(DATA[f'{p}/x'], DATA[f'{p}/y'], verbose=0, **case['fit'])
    np.testing.assert_allclose(h.history['loss'], DATA[f'{p}/loss'], rtol=1e-5)
    for i, w in enumerate(model.get_weights()): np.testing.assert_allclose(w, DATA[f'{p}/w_final/{i}'], atol=2e-5, err_msg=f'weight {i}')
    np.testing.assert_allclose(model.predict(DATA[f'{p}/x'], verbose=0), DATA[f'{p}/predict'], atol=2e-5)


def test_keras_weight_layout():
    "Keras's shapes: LSTM (features, 4u) gates i, f, c, o; GRU bias (2, 3u) with reset_after, (3u,) without."
    x = np.zeros((2, 3, 5), np.float32)
    for layer, shapes in [(SimpleRNN(4), [(5, 4), (4, 4), (4,)]), (LSTM(4), [(5, 16), (4, 16), (16,)]),
                          (GRU(4), [(5, 12), (4, 12), (2, 12)]), (GRU(4, reset_after=False), [(5, 12), (4, 12), (12,)]),
                          (LSTM(4, use_bias=False), [(5, 16), (4, 16)])]:
        layer(x)
        assert [w.shape for w in layer.get_weights()] == shapes, type(layer).__name__
        assert [w.name for w in layer.weights] == ['kernel', 'recurrent_kernel', 'bias'][:len(shapes)]
    lstm = LSTM(3); lstm(x)
    np.testing.assert_array_equal(lstm.bias.value, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    plain = LSTM(3, unit_forget_bias=False, bias_initializer='ones'); plain(x)
    np.testing.assert_array_equal(plain.bias.value, np.ones(12))


# ---------------------------------------------------------------------------------------------------------------
# Gradients, every option
# ---------------------------------------------------------------------------------------------------------------
GRAD_CASES = [
    (SimpleRNN, {}), (SimpleRNN, dict(return_sequences=True)), (SimpleRNN, dict(go_backwards=True, return_sequences=True)),
    (SimpleRNN, dict(activation='relu', use_bias=False)), (SimpleRNN, dict(activation='sigmoid', return_sequences=True)),
    (LSTM, {}), (LSTM, dict(return_sequences=True)), (LSTM, dict(go_backwards=True)), (LSTM, dict(use_bias=False)),
    (LSTM, dict(activation='relu', recurrent_activation='hard_sigmoid', return_sequences=True)),
    (LSTM, dict(activation='softsign', return_sequences=True, go_backwards=True)),
    (GRU, {}), (GRU, dict(return_sequences=True)), (GRU, dict(go_backwards=True, return_sequences=True)),
    (GRU, dict(reset_after=False)), (GRU, dict(reset_after=False, return_sequences=True, use_bias=False)),
    (GRU, dict(activation='relu', recurrent_activation='hard_sigmoid', return_sequences=True)),
]


@pytest.mark.parametrize('cls,kw', GRAD_CASES, ids=[f'{c.__name__}-{sorted(k)}' for c, k in GRAD_CASES])
def test_gradient_check(cls, kw):
    errs = gradient_check(cls(3, **kw), np.random.default_rng(0).normal(size=(2, 4, 3)))
    assert max(errs.values()) < 1e-5, errs


def check_list_grads(layer, xs, mask=None, training=False, h=1e-6):
    "Max relative error of analytic vs numerical gradients (float64) for layers with list inputs or outputs."
    L = type(layer).from_config({**layer.get_config(), 'dtype': 'float64'})
    xs = [np.array(a, np.float64) for a in xs]
    arg = lambda: xs if len(xs) > 1 else xs[0]
    L(arg())
    subs = [L, *(getattr(L, a) for a in ('forward_layer', 'backward_layer') if hasattr(L, a))]
    def run():
        for l in subs:
            if getattr(l, '_rng', None) is not None: l._rng = np.random.default_rng(l.seed)
        return _as_list(L.call(arg(), training=training, mask=mask))
    rs = [np.random.default_rng(i).normal(size=o.shape) for i, o in enumerate(run())]
    run(); g = _as_list(L.backward(rs if len(rs) > 1 else rs[0]))
    loss = lambda: float(sum((o * r).sum() for o, r in zip(run(), rs)))
    rel = lambda a, n: float(np.abs(a - n).max() / max(np.abs(n).max(), 1e-8))  # relative to the gradient's scale
    errs = {f'input_{i}': rel(gi, numerical_gradient(loss, a, h)) for i, (gi, a) in enumerate(zip(g, xs))}
    for w in L.trainable_weights:
        analytic = w.grad.copy()
        errs[w.name] = rel(analytic, numerical_gradient(loss, w.value, h))
    return errs


RNG = np.random.default_rng(1)
XS = RNG.normal(size=(3, 5, 2))
MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], bool)  # right-, left- and gap-padded
LIST_CASES = [(cls, kw, m) for cls in (SimpleRNN, LSTM, GRU)
              for kw in [dict(return_state=True), dict(return_state=True, return_sequences=True, go_backwards=True),
                         dict(return_sequences=True, zero_output_for_mask=True)]
              for m in (None, MASK)] + [(GRU, dict(reset_after=False, return_state=True, return_sequences=True), MASK)]


@pytest.mark.parametrize('cls,kw,mask', LIST_CASES, ids=[f'{c.__name__}-{sorted(k)}-{m is not None}' for c, k, m in LIST_CASES])
def test_gradients_with_states_and_masks(cls, kw, mask):
    "Initial states as inputs (their gradients returned), gradients arriving on the final states, masked steps."
    states = [RNG.normal(size=(3, 4)) for _ in cls._state_names]
    errs = check_list_grads(cls(4, **kw), [XS, *states], mask=mask)
    assert max(errs.values()) < 1e-5, errs


@pytest.mark.parametrize('cls,extra', [(SimpleRNN, {}), (LSTM, {}), (GRU, {}), (GRU, dict(reset_after=False))])
def test_gradients_with_dropout(cls, extra):
    "Dropout and recurrent dropout in training: the same masks at every step, gradients through them."
    layer = cls(4, dropout=0.3, recurrent_dropout=0.4, seed=1, return_sequences=True, **extra)
    errs = check_list_grads(layer, [XS], training=True, mask=MASK)
    assert max(errs.values()) < 1e-5, errs


@pytest.mark.parametrize('mode', ['concat', 'sum', 'mul', 'ave', None])
def test_bidirectional_gradients(mode):
    errs = check_list_grads(Bidirectional(GRU(3, return_sequences=True), merge_mode=mode), [XS], mask=MASK)
    assert max(errs.values()) < 1e-5, errs
    errs = check_list_grads(Bidirectional(LSTM(3, return_state=True), merge_mode=mode), [XS, *RNG.normal(size=(4, 3, 3))])
    assert max(errs.values()) < 1e-5, errs
    assert max(gradient_check(Bidirectional(SimpleRNN(2), merge_mode=mode or 'concat'), XS).values()) < 1e-5


def test_bidirectional_custom_backward_layer():
    layer = Bidirectional(SimpleRNN(3, return_sequences=True), backward_layer=SimpleRNN(2, return_sequences=True, go_backwards=True))
    y = layer(XS.astype(np.float32))
    assert y.shape == (3, 5, 5)
    assert max(check_list_grads(layer, [XS]).values()) < 1e-5
    with pytest.raises(ValueError, match='same states'):
        Bidirectional(LSTM(3), backward_layer=GRU(3, go_backwards=True))
    with pytest.raises(ValueError, match='opposite directions'):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))


def test_functional_initial_state_gradients():
    "An encoder's final states start a decoder: gradients flow through the states into the encoder (checked numerically)."
    set_seed(0)
    enc_in, dec_in = Input((4, 3)), Input((3, 2))
    _, h, c = LSTM(3, return_state=True)(enc_in)
    dec = LSTM(3, return_sequences=True)(dec_in, initial_state=[h, c])
    out = Bidirectional(GRU(2, return_sequences=True), merge_mode='ave')(dec)
    model = Model([enc_in, dec_in], Dense(1)(out))
    rng = np.random.default_rng(2)
    errs = graph_gradient_check(model._graph, [rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 3, 2))])
    assert max(errs.values()) < 1e-5, errs


def test_need_input_grad_false():
    "The first layer of a model needs no input gradient: the same weight gradients, no input product."
    x, g = XS.astype(np.float32), np.ones((3, 4), np.float32)
    l = LSTM(4); l(x)
    l.call(x); assert l.backward(g).shape == x.shape
    grads = [w.grad.copy() for w in l.weights]
    l.call(x); assert l.backward(g, need_input_grad=False) is None
    for a, w in zip(grads, l.weights): np.testing.assert_array_equal(a, w.grad)


# ---------------------------------------------------------------------------------------------------------------
# What the layers compute
# ---------------------------------------------------------------------------------------------------------------
def test_simple_rnn_is_the_naive_loop_with_dropout_masks():
    "With dropout, one input mask and one state mask per batch, the same at every step (Keras's rule)."
    x = XS.astype(np.float32)
    layer = SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, seed=3, return_sequences=True)
    y = layer(x, training=True)
    xm, rm = layer._xmask.T, layer._rmask.T        # (batch, features), (batch, units)
    k, rk, b = layer.get_weights()
    h, hs = np.zeros((3, 4), np.float32), []
    for t in range(5):
        h = np.tanh((x[:, t] * xm) @ k + (h * rm) @ rk + b); hs.append(h)
    np.testing.assert_allclose(y, np.stack(hs, 1), atol=1e-6)
    assert set(np.unique(xm)) <= {0, 2} and 0 in xm
    np.testing.assert_array_equal(layer(x, training=False), layer(x))   # no dropout outside training


def test_masked_steps_keep_state_and_repeat_output():
    x = XS.astype(np.float32)
    for cls in (SimpleRNN, LSTM, GRU):
        layer = cls(2, return_sequences=True, return_state=True)
        layer(x)
        out, *states = layer.call(x, mask=MASK)
        np.testing.assert_array_equal(out[0, 3], out[0, 2]); np.testing.assert_array_equal(out[0, 4], out[0, 2])
        np.testing.assert_array_equal(out[1, :2], 0)                     # before the first real step: zeros
        np.testing.assert_array_equal(states[0][0], out[0, 2])           # the state after the last real step
        np.testing.assert_array_equal(out[2, 1], out[2, 0])              # a gap repeats the output before it
        short = cls(2, return_sequences=True); short(x[:1, :3]); short.set_weights(layer.get_weights())
        np.testing.assert_allclose(short(x[:1, :3])[0], out[0, :3], atol=1e-6)  # right padding changes nothing before it
        assert layer.compute_mask(x, MASK)[0] is MASK and layer.compute_mask(x, MASK)[1:] == [None] * len(states)
    assert LSTM(2).compute_mask(x, MASK) is None
    b = Bidirectional(LSTM(2, return_sequences=True), merge_mode=None)
    assert b.compute_mask(x, MASK) == [MASK, MASK]
    with pytest.raises(ValueError, match=r'mask must have shape \(batch, timesteps\)'):
        layer.call(x, mask=MASK[:, :3])


def test_go_backwards_and_last_hidden_states():
    "go_backwards returns the sequence in reading order (Keras); last_hidden_states is in the input's order."
    x = XS.astype(np.float32)
    fwd = GRU(3, return_sequences=True); fwd(x)
    back = GRU(3, return_sequences=True, go_backwards=True); back(x); back.set_weights(fwd.get_weights())
    np.testing.assert_allclose(back(x), fwd(x[:, ::-1]), atol=1e-6)
    yb = back(x)
    np.testing.assert_allclose(back.last_hidden_states, yb[:, ::-1], atol=1e-6)
    yf = fwd(x)
    np.testing.assert_allclose(fwd.last_hidden_states, yf, atol=1e-6)
    bi = Bidirectional(LSTM(3, return_sequences=True))
    y = bi(x)
    np.testing.assert_allclose(bi.forward_layer.last_hidden_states, y[..., :3], atol=1e-6)
    np.testing.assert_allclose(bi.backward_layer.last_hidden_states, y[..., 3:], atol=1e-6)
    last = LSTM(3); last(x)
    assert last.last_hidden_states.shape == (3, 5, 3)


def test_stateful_carries_state_between_batches():
    seq = RNG.normal(size=(2, 8, 3)).astype(np.float32)
    for cls in (SimpleRNN, LSTM, GRU):
        whole = cls(4, return_sequences=True); y = whole(seq)
        chunks = cls(4, return_sequences=True, stateful=True); chunks(seq[:, :4]); chunks.set_weights(whole.get_weights())
        chunks.reset_states()
        np.testing.assert_allclose(np.concatenate([chunks(seq[:, :4]), chunks(seq[:, 4:])], axis=1), y, atol=1e-5)
        with pytest.raises(ValueError, match='every batch must have the same size'): chunks(seq[:1])
        chunks.reset_state(); np.testing.assert_array_equal(chunks.states[0], 0)
    model = Sequential([Input((4, 3)), LSTM(3, stateful=True), Dense(1)])
    model.compile('sgd', 'mse')
    model.fit(RNG.normal(size=(8, 4, 3)), RNG.normal(size=(8, 1)), batch_size=4, shuffle=False, verbose=0)
    with pytest.raises(ValueError, match='batch_size that divides'):
        model.fit(RNG.normal(size=(6, 4, 3)), RNG.normal(size=(6, 1)), batch_size=4, shuffle=False, verbose=0)


def test_any_length_time_axis():
    inp = Input((None, 3))
    model = Model(inp, Dense(1)(Bidirectional(LSTM(4, return_sequences=True))(GRU(5, return_sequences=True)(inp))))
    assert model.output_shape == (None, None, 1)
    assert LSTM(2).compute_output_shape((None, None, 3)) == (None, 2)
    assert LSTM(2, return_sequences=True, return_state=True).compute_output_shape((None, None, 3)) == [(None, None, 2), (None, 2), (None, 2)]
    for T in (1, 3, 9): assert model.predict(np.ones((2, T, 3)), verbose=0).shape == (2, T, 1)
    model.compile('adam', 'mse')
    model.fit(np.ones((4, 6, 3)), np.ones((4, 6, 1)), verbose=0)   # targets of any length where the output has None


def test_embedding_lstm_model_trains():
    set_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, (64, 12)); y = (x[:, :3].sum(axis=1) > 45).astype(np.float32)
    model = Sequential([Input((12,), dtype='int64'), Embedding(30, 8), LSTM(16), Dense(1, activation='sigmoid')])
    model.compile(optimizers.Adam(0.02), 'binary_crossentropy', metrics=['accuracy'])
    h = model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < 0.6 * h.history['loss'][0]


def test_subclassed_model_with_states():
    class Tagger(Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.rnn, self.out = GRU(4, return_sequences=True, return_state=True), Dense(1)
        def call(self, x, training=None):
            seq, h = self.rnn(x)
            return self.out(seq + h[:, None])
    m = Tagger(); m.compile('adam', 'mse')
    h = m.fit(XS.astype(np.float32), np.ones((3, 5, 1), np.float32), epochs=5, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]


# ---------------------------------------------------------------------------------------------------------------
# Configs, files
# ---------------------------------------------------------------------------------------------------------------
CONFIG_LAYERS = [lambda: SimpleRNN(3, activation='relu', dropout=0.1, go_backwards=True),
                 lambda: LSTM(3, return_sequences=True, return_state=True, unit_forget_bias=False, recurrent_dropout=0.2, seed=4),
                 lambda: GRU(3, reset_after=False, kernel_regularizer='l2', recurrent_initializer='glorot_uniform', stateful=True),
                 lambda: Bidirectional(LSTM(3, return_sequences=True), merge_mode='mul'),
                 lambda: Bidirectional(GRU(3), backward_layer=GRU(2, go_backwards=True), merge_mode=None)]


@pytest.mark.parametrize('make', CONFIG_LAYERS)
def test_config_round_trip(make):
    layer = make()
    cfg = layer.get_config()
    json.dumps(cfg)
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg


def test_config_has_keras_keys():
    cfg = LSTM(3).get_config()
    for k in ['units', 'activation', 'recurrent_activation', 'use_bias', 'kernel_initializer', 'recurrent_initializer',
              'bias_initializer', 'unit_forget_bias', 'dropout', 'recurrent_dropout', 'return_sequences', 'return_state',
              'go_backwards', 'stateful', 'unroll', 'zero_output_for_mask', 'seed']:
        assert k in cfg, k
    assert cfg['recurrent_initializer'] == {'class_name': 'Orthogonal', 'config': {'gain': 1.0}}
    assert 'recurrent_activation' not in SimpleRNN(3).get_config() and 'reset_after' in GRU(3).get_config()


MODELS = {
    'simple_rnn': lambda: [SimpleRNN(4, return_sequences=True), SimpleRNN(3, go_backwards=True)],
    'lstm': lambda: [LSTM(4, dropout=0.1, recurrent_dropout=0.1, return_sequences=True), LSTM(3)],
    'gru': lambda: [GRU(4, reset_after=False, return_sequences=True), GRU(3)],
    'bidirectional': lambda: [Bidirectional(LSTM(4, return_sequences=True), merge_mode='sum'),
                              Bidirectional(GRU(3), backward_layer=GRU(2, go_backwards=True))],
}


@pytest.mark.parametrize('name', list(MODELS))
def test_save_load_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 6, 3)).astype('float32'), rng.normal(size=(24, 1)).astype('float32')
    def make():
        set_seed(0)
        m = Sequential([Input((6, 3)), *MODELS[name](), Dense(1)]); m.compile('adam', 'mse')
        return m
    straight = make(); straight.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    a = make(); a.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    a.save(tmp_path / 'm.seqlearn')
    b = load_model(tmp_path / 'm.seqlearn')
    assert [type(l).__name__ for l in b.layers] == [type(l).__name__ for l in a.layers]
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    if name == 'lstm': return  # dropout draws differ between the two runs
    b.fit(x, y, epochs=2, initial_epoch=1, batch_size=8, shuffle=False, verbose=0)
    for w1, w2 in zip(straight.get_weights(), b.get_weights()): np.testing.assert_allclose(w1, w2, atol=1e-6)


def test_bidirectional_weights_named_by_direction():
    m = Sequential([Input((6, 3)), Bidirectional(LSTM(2))])
    names = [p for p, _ in m._named_weights()]
    assert '/forward_lstm' in names[0] and names[0].endswith('/kernel') and '/backward_lstm' in names[3] and names[3].endswith('/kernel')
    assert len(m.get_weights()) == 6 and m.count_params() == 2 * (3 * 8 + 2 * 8 + 8)


def test_orthogonal_initializer():
    set_seed(0)
    q = get_initializer('orthogonal')((8, 32))
    np.testing.assert_allclose(q @ q.T, np.eye(8), atol=1e-5)
    q = Orthogonal(gain=0.5)((10, 4))
    np.testing.assert_allclose(q.T @ q, 0.25 * np.eye(4), atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Errors that teach
# ---------------------------------------------------------------------------------------------------------------
def test_two_d_input_says_how_to_add_a_time_axis():
    with pytest.raises(ValueError) as e: Sequential([Input((10,)), LSTM(8)])
    msg = str(e.value)
    assert '(batch, timesteps, features)' in msg and 'Reshape((timesteps, 1))' in msg and 'x[..., None]' in msg and 'Embedding' in msg
    with pytest.raises(ValueError, match='no time axis'): LSTM(3)(np.ones((4, 5), np.float32))


def test_stacking_without_return_sequences():
    with pytest.raises(ValueError, match='return_sequences=True'): Sequential([Input((10, 3)), LSTM(8), LSTM(4)])
    inp = Input((10, 3))
    first = GRU(8, name='encoder')
    with pytest.raises(ValueError, match=r"Give 'encoder' return_sequences=True"): LSTM(4)(first(inp))
    with pytest.raises(ValueError, match=r"Give 'bidi' return_sequences=True"): SimpleRNN(4)(Bidirectional(GRU(3), name='bidi')(inp))


def test_argument_errors():
    with pytest.raises(TypeError, match="Did you mean 'return_sequences'"): LSTM(3, return_sequence=True)
    with pytest.raises(TypeError, match="Did you mean 'recurrent_dropout'"): GRU(3, recurent_dropout=0.1)
    with pytest.raises(ValueError, match='positive whole number of units'): LSTM(0)
    with pytest.raises(ValueError, match=r'dropout in \[0, 1\)'): LSTM(3, dropout=1.5)
    with pytest.raises(ValueError, match='elementwise activation'): GRU(3, activation='softmax')
    with pytest.raises(ValueError, match="Did you mean 'concat'"): Bidirectional(LSTM(3), merge_mode='concatenate')
    with pytest.raises(TypeError, match='wraps a recurrent layer'): Bidirectional(Dense(3))


def test_initial_state_errors():
    x = XS.astype(np.float32)
    with pytest.raises(ValueError, match=r'takes 2 initial states: h \(batch, 4\), c \(batch, 4\)'):
        LSTM(4)(x, initial_state=[np.zeros((3, 4), np.float32)])
    with pytest.raises(ValueError, match='takes 1 initial state'):
        GRU(4)(x, initial_state=[np.zeros((3, 5), np.float32)])
    with pytest.raises(ValueError, match=r'must have shape \(batch, units\)'):
        GRU(4)(x, initial_state=[np.zeros((2, 4), np.float32)])
    with pytest.raises(TypeError, match='Give the states one way'):
        GRU(4)([x, np.zeros((3, 4))], initial_state=[np.zeros((3, 4))])
    with pytest.raises(ValueError, match='takes 4 initial states'):
        Bidirectional(LSTM(4))(x, initial_state=[np.zeros((3, 4), np.float32)] * 2)
    with pytest.raises(ValueError, match='features per step'):
        l = LSTM(2); l(x); l(np.ones((3, 5, 7), np.float32))


def test_shared_layers_keep_each_calls_state():
    "One LSTM (and one Bidirectional) called on two inputs: each call's arrays are kept for its own backward."
    set_seed(1)
    a, b = Input((4, 3)), Input((5, 3))
    lstm, bi = LSTM(3, return_sequences=True), Bidirectional(GRU(2), merge_mode='sum')
    out = seqlearn.concatenate([bi(lstm(a)), bi(lstm(b))])
    model = Model([a, b], Dense(1)(out))
    rng = np.random.default_rng(3)
    errs = graph_gradient_check(model._graph, [rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 3))])
    assert max(errs.values()) < 1e-5, errs


def test_stateful_backward_is_truncated_at_the_batch():
    "A stateful layer's gradient: the states from the batch before are constants, as an initial_state that is not trained."
    x1, x2 = RNG.normal(size=(3, 4, 2)).astype(np.float32), RNG.normal(size=(3, 4, 2)).astype(np.float32)
    g = RNG.normal(size=(3, 4, 3)).astype(np.float32)
    for cls in (SimpleRNN, LSTM, GRU):
        st = cls(3, stateful=True, return_sequences=True); st(x1)
        prev = [s.copy() for s in st.states]
        st.call(x2, training=True); dx = st.backward(g)
        plain = cls(3, return_sequences=True); plain(x2, initial_state=prev); plain.set_weights(st.get_weights())
        plain.call([x2, *prev], training=True); dx_plain = plain.backward(g)[0]
        np.testing.assert_allclose(dx, dx_plain, atol=1e-6)
        for a, b in zip(st.weights, plain.weights): np.testing.assert_allclose(a.grad, b.grad, atol=1e-6)

def test_bidirectional_from_its_config_keeps_the_direction_names():
    from seqlearn.layers import Bidirectional, LSTM
    b = Bidirectional(LSTM(3, name='enc'))
    c = Bidirectional.from_config(b.get_config())
    assert (c.forward_layer.name, c.backward_layer.name) == ('forward_enc', 'backward_enc')
