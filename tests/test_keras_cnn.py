"""Convolution, pooling, normalization, embedding and padding layers against numbers Keras 3 produced
(tests/fixtures, made by make_keras_cnn.py).

Per layer: the same input and weights give the same output, the same input gradient and the same weight
gradients for an upstream gradient r (Keras's numbers are d sum(y*r) by torch autograd), and BatchNormalization
moves its statistics the same way. Per model: small Sequential CNNs trained with Adam from the same initial
weights give the same history, final weights (moving statistics included), predictions and evaluate.

seqlearn's layers are imported inside the tests, so a layer that does not exist yet fails its own tests only."""
import json, pathlib
import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent / 'fixtures'
REF = json.loads((HERE / 'keras_cnn.json').read_text())
DATA = np.load(HERE / 'keras_cnn.npz', allow_pickle=False)
RTOL, ATOL = 1e-4, 1e-5              # one layer, one call
MODEL_RTOL, MODEL_ATOL = 2e-4, 2e-5  # 12 Adam steps, as in the other Keras fixtures
LAYER_CASES = {c['name']: c for c in REF['layer_cases']}
MODEL_CASES = {c['name']: c for c in REF['model_cases']}


def _tuplify(v):
    "JSON lists back to the tuples the generator passed to Keras (kernel_size=(3, 2), padding=((1, 2), (0, 3)))."
    if isinstance(v, list): return tuple(_tuplify(a) for a in v)
    if isinstance(v, dict): return {k: _tuplify(a) for k, a in v.items()}
    return v


def _close(got, want, what, rtol=RTOL, atol=ATOL):
    assert got is not None, f'{what}: got None'
    got = np.asarray(got)
    assert got.shape == want.shape, f'{what}: shape {got.shape}, Keras {want.shape}'
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _layer(case):
    from seqlearn import layers as L
    layer = getattr(L, case['class'])(**_tuplify(case['config']))
    layer._build((None,) + tuple(case['x_shape'][1:]))
    return layer


# ---------------------------------------------------------------------------------------------------------------
# One layer, one call
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', [n for n, c in LAYER_CASES.items() if c['weight_names']])
def test_layer_weights_like_keras(name):
    "Weights in Keras's order, names, shapes and trainable flags (BatchNormalization: gamma, beta, moving_mean, moving_variance)."
    case = LAYER_CASES[name]
    layer = _layer(case)
    assert [w.name for w in layer.weights] == case['weight_names']
    assert [list(w.shape) for w in layer.weights] == case['weight_shapes']
    assert [bool(w.trainable) for w in layer.weights] == case['weight_trainable']


# Keras's torch backend pads asymmetric 'same' average pooling with copies of the edge values and divides by the
# full window; the TensorFlow and JAX backends (and Keras's documentation) average only the real values. seqlearn
# follows the latter, so for those cases the reference is an explicit loop over windows with that rule.
TORCH_BACKEND_QUIRK = [n for n in LAYER_CASES if n.startswith('avgpool') and (n.endswith('_asym') or n.endswith('_mixed'))]


def _avgpool_reference(x, r, pool, strides):
    "Output and input gradient of 'same' average pooling that counts only real values, by a loop over windows."
    x = np.asarray(x, np.float64); sp = x.shape[1:-1]
    out = [-(-n // s) for n, s in zip(sp, strides)]
    pads = [max((o - 1) * s + p - n, 0) // 2 for o, s, p, n in zip(out, strides, pool, sp)]
    y, dx = np.zeros((x.shape[0], *out, x.shape[-1])), np.zeros_like(x)
    for pos in np.ndindex(*out):
        win = tuple(slice(max(0, i * s - p), min(n, i * s - p + k)) for i, s, p, k, n in zip(pos, strides, pads, pool, sp))
        count = np.prod([w.stop - w.start for w in win])
        y[(slice(None), *pos)] = x[(slice(None), *win)].reshape(x.shape[0], -1, x.shape[-1]).mean(axis=1)
        dx[(slice(None), *win)] += np.asarray(r)[(slice(None), *pos)].reshape(x.shape[0], *([1] * len(sp)), -1) / count
    return y, dx


@pytest.mark.parametrize('name', TORCH_BACKEND_QUIRK)
def test_avgpool_same_counts_real_values(name):
    "Asymmetric 'same' average pooling: seqlearn averages the real values (TensorFlow/JAX's rule), checked by a loop."
    case = LAYER_CASES[name]
    g = lambda k: DATA[f'layers/{name}/{k}']
    layer = _layer(case)
    y = layer(g('x'))
    want_y, want_dx = _avgpool_reference(g('x'), g('r'), layer.pool_size, layer.strides)
    _close(y, want_y.astype(np.float32), 'output')
    _close(layer.backward(g('r')), want_dx.astype(np.float32), 'input gradient')
    assert not np.allclose(y, g('y'), rtol=RTOL, atol=ATOL), 'the torch backend differs here; the fixture should show it'


@pytest.mark.parametrize('name', [n for n in LAYER_CASES if n not in TORCH_BACKEND_QUIRK])
def test_layer_matches_keras(name):
    case = LAYER_CASES[name]
    g = lambda k: DATA[f'layers/{name}/{k}']
    embedding = case['class'] == 'Embedding'
    layer = _layer(case)
    n_w = len(case['weight_names'])
    if n_w: layer.set_weights([g(f'w/{i}') for i in range(n_w)])
    else: assert layer.weights == []
    x = g('x_int') if embedding else g('x')
    y = layer(x, training=case['training'])
    _close(y, g('y'), 'output')
    dx = layer.backward(g('r'))
    if not embedding: _close(dx, g('dx'), 'input gradient')  # integer input: no gradient to compare
    for i in case['trainable_weight_indices']:
        w = layer.weights[i]
        _close(w.grad, g(f'dw/{i}'), f"gradient of weight {i} ('{case['weight_names'][i]}')")
    if case['class'] == 'BatchNormalization':
        idx = {n: i for i, n in enumerate(case['weight_names'])}
        if case['training']:  # called directly (not inside fit), so the moving statistics move at once
            _close(layer.weights[idx['moving_mean']].value, g('moving_mean_after'), 'moving_mean after the call')
            _close(layer.weights[idx['moving_variance']].value, g('moving_variance_after'), 'moving_variance after the call')
        else:
            _close(layer.weights[idx['moving_mean']].value, g(f"w/{idx['moving_mean']}"), 'moving_mean (inference: unchanged)', 0, 0)
            _close(layer.weights[idx['moving_variance']].value, g(f"w/{idx['moving_variance']}"), 'moving_variance (inference: unchanged)', 0, 0)
    if embedding:  # the same indices as float32 (Keras casts them to int32)
        _close(layer(g('x'), training=case['training']), g('y_from_float'), 'output for float32 indices')


# ---------------------------------------------------------------------------------------------------------------
# Sequential models trained with fit
# ---------------------------------------------------------------------------------------------------------------
def _model(case):
    from seqlearn import Sequential
    from seqlearn import layers as L
    return Sequential([L.Input(tuple(case['input_shape']))]
                      + [getattr(L, s['class'])(**_tuplify(s['config'])) for s in case['layers']])


def _start(case):
    g = lambda k: DATA[f"models/{case['name']}/{k}"]
    model = _model(case)
    assert [list(w.shape) for w in model.weights] == case['weight_shapes']  # model.weights order, non-trainable included
    assert [bool(w.trainable) for w in model.weights] == case['weight_trainable']
    assert model.count_params() == case['count_params']
    model.set_weights([g(f'w_init/{i}') for i in range(len(case['weight_shapes']))])
    return model, g


@pytest.mark.parametrize('name', list(MODEL_CASES))
def test_model_forward_matches_keras(name):
    "predict at the initial weights (inference mode: BatchNormalization uses the moving statistics)."
    model, g = _start(MODEL_CASES[name])
    _close(model.predict(g('x'), verbose=0), g('pred_init'), 'initial prediction', MODEL_RTOL, MODEL_ATOL)


def _loss(spec):
    from seqlearn import losses
    return spec if isinstance(spec, str) else getattr(losses, spec['class'])(**spec['config'])


@pytest.mark.parametrize('name', list(MODEL_CASES))
def test_model_training_matches_keras(name):
    from seqlearn import optimizers
    case = MODEL_CASES[name]
    model, g = _start(case)
    c = case['compile']
    model.compile(optimizer=getattr(optimizers, c['optimizer']['class'])(**c['optimizer']['config']),
                  loss=_loss(c['loss']), metrics=list(c['metrics']))
    x, y = g('x'), g('y')
    h = model.fit(x, y, verbose=0, **case['fit'])
    assert sorted(h.history) == sorted(case['history_keys'])
    for k in case['history_keys']:
        _close(h.history[k], g(f'history/{k}'), f'history {k}', MODEL_RTOL, MODEL_ATOL)
    assert model.optimizer.iterations == case['iterations']
    final = model.get_weights()
    assert len(final) == len(case['weight_paths'])
    for i, (w, path) in enumerate(zip(final, case['weight_paths'])):
        _close(w, g(f'w_final/{i}'), f'final weight {i} ({path})', MODEL_RTOL, MODEL_ATOL)
    _close(model.predict(x, verbose=0), g('pred_final'), 'final prediction', MODEL_RTOL, MODEL_ATOL)
    ev = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(ev) == sorted(case['evaluate_keys'])
    for k in case['evaluate_keys']:
        _close(ev[k], g(f'evaluate/{k}'), f'evaluate {k}', MODEL_RTOL, MODEL_ATOL)


def test_saturated_predictions_stop_pulling_as_in_keras():
    """Keras clips probabilities to [1e-7, 1 - 1e-7] before the log, so a clipped prediction has no gradient; the
    fused softmax/sigmoid gradient seqlearn uses must do the same (it decides long runs: after 100% training accuracy
    most predictions are clipped). The numbers: Keras 3.15.1, torch backend, autograd through
    keras.activations.softmax/sigmoid and the Keras losses."""
    from seqlearn.losses import SparseCategoricalCrossentropy, BinaryCrossentropy
    from seqlearn.activations import get_activation
    z = np.array([[30., 0, 0], [-30, 0, 0], [0.5, 0, -0.5]], np.float32)
    loss = SparseCategoricalCrossentropy()
    y = loss.prepare_targets(np.array([0, 0, 2]), z.shape)
    g = loss.logits_gradient(y, get_activation('softmax')(z))
    np.testing.assert_allclose(g, [[0, 0, 0], [0, 0, 0], [0.1688, 0.1024, -0.2712]], atol=1e-4)
    zb = np.array([[20., 0.3, -20]], np.float32)
    gb = BinaryCrossentropy().logits_gradient(np.ones((1, 3), np.float32), get_activation('sigmoid')(zb))
    np.testing.assert_allclose(gb, [[0, -0.1419, 0]], atol=1e-4)
