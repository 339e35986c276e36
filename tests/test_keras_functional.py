"""Functional models against numbers Keras 3 produced (tests/fixtures, made by make_keras_functional.py).

Two inputs, two outputs, a shared layer, a residual connection, every merge layer, Reshape and a nested
Sequential model: same initial weights, same data, shuffle=False. Predictions, per-epoch history (Keras 3's
multi-output key names), final weights, evaluate (dict and list order), the optimizer's step count, and
train_on_batch/test_on_batch must agree to float32 tolerance."""
import json, pathlib
import numpy as np
import pytest
from seqlearn import layers as L, losses, optimizers, metrics
from seqlearn.models import Model, Sequential

HERE = pathlib.Path(__file__).parent / 'fixtures'
REF = json.loads((HERE / 'keras_functional.json').read_text())
DATA = np.load(HERE / 'keras_functional.npz', allow_pickle=False)
RTOL, ATOL = 2e-4, 2e-5
CASES = {c['name']: c for c in REF['cases']}


def _layer(spec):
    if spec['class'] == 'Sequential':
        return Sequential([L.Input(tuple(spec['input_shape']))] + [_layer(s) for s in spec['layers']], name=spec['name'])
    cfg = dict(spec.get('config', {}))
    if 'target_shape' in cfg: cfg['target_shape'] = tuple(cfg['target_shape'])
    return getattr(L, spec['class'])(name=spec['name'], **cfg)


def build(case):
    """The case's model, wired from the JSON's graph description (the same description the generator checked against Keras)."""
    arch = case['architecture']
    tensors = {i['name']: L.Input(tuple(i['shape']), name=i['name']) for i in arch['inputs']}
    layers = {s['name']: _layer(s) for s in arch['layers']}
    for call in arch['graph']:
        args = [tensors[n] for n in call['inputs']]
        tensors[call['output']] = layers[call['layer']](args if len(args) > 1 else args[0])
    outs = [tensors[n] for n in arch['outputs']]
    return Model([tensors[i['name']] for i in arch['inputs']], outs if len(outs) > 1 else outs[0], name=arch['model_name'])


def g(case, key): return DATA[f"{case['name']}/{key}"]


def _weights(model, case, prefix):
    for name in case['architecture']['layers_with_weights']:
        layer = _find(model, name)
        layer.set_weights([g(case, f'{prefix}/{name}/{i}') for i in range(len(layer.weights))])


def _find(model, name):
    for l in model.layers:
        if l.name == name: return l
        if isinstance(l, Model):
            try: return _find(l, name)
            except KeyError: pass
    raise KeyError(name)


def _data(case, spec, what):
    v = case['fit'][what] if spec is None else spec
    if isinstance(v, dict): return {k: g(case, p) for k, p in v.items()}
    if isinstance(v, list): return [g(case, p) if isinstance(p, str) else [g(case, q) for q in p] for p in v]
    return g(case, v)


def _spec(module, s):
    if isinstance(s, str): return s
    return getattr(module, s['class'])(**s.get('config', {}))


def compiled(case):
    m = build(case)
    _weights(m, case, 'w_init')
    c = case['compile']
    loss = c['loss']
    loss = ({k: _spec(losses, v) for k, v in loss.items()} if isinstance(loss, dict) else
            [_spec(losses, v) for v in loss] if isinstance(loss, list) else _spec(losses, loss))
    m.compile(optimizer=_spec(optimizers, c['optimizer']), loss=loss, loss_weights=c.get('loss_weights'), metrics=c['metrics'])
    return m


def _outputs(model, x):
    p = model.predict(x, verbose=0)
    return p if isinstance(p, list) else [p]


@pytest.mark.parametrize('name', list(CASES))
def test_functional_training_matches_keras(name):
    case = CASES[name]
    m = compiled(case)
    names = case['architecture']['output_names']
    assert m.count_params() == case['architecture']['count_params']
    assert [p for p, _ in m._named_weights()] == case['weight_paths']  # Keras's weight order and paths
    x = _data(case, None, 'x')
    for o, p in zip(names, _outputs(m, x)):
        np.testing.assert_allclose(p, g(case, f'pred_init/{o}'), rtol=RTOL, atol=ATOL, err_msg=f'initial prediction {o}')
    fit = case['fit']
    kw = dict(batch_size=fit['batch_size'], epochs=fit['epochs'], shuffle=fit['shuffle'], verbose=0)
    if 'validation_split' in fit: kw['validation_split'] = fit['validation_split']
    if 'validation_data' in fit: kw['validation_data'] = tuple(_data(case, v, None) for v in fit['validation_data'])
    if 'sample_weight' in fit: kw['sample_weight'] = g(case, fit['sample_weight'])
    h = m.fit(x, _data(case, None, 'y'), **kw)
    assert list(h.history) == case['history_keys']  # Keras 3's names, in its (sorted) order
    for k in case['history_keys']:
        np.testing.assert_allclose(h.history[k], g(case, f'history/{k}'), rtol=RTOL, atol=ATOL, err_msg=f'history {k}')
    assert m.optimizer.iterations == case['iterations']
    for lname in case['architecture']['layers_with_weights']:
        for i, w in enumerate(_find(m, lname).get_weights()):
            np.testing.assert_allclose(w, g(case, f'w_final/{lname}/{i}'), rtol=RTOL, atol=ATOL, err_msg=f'final {lname}/{i}')
    for o, p in zip(names, _outputs(m, x)):
        np.testing.assert_allclose(p, g(case, f'pred_final/{o}'), rtol=RTOL, atol=ATOL, err_msg=f'final prediction {o}')
    ev = case['evaluate']
    ex, ey = _data(case, ev['x'], None), _data(case, ev['y'], None)
    d = m.evaluate(ex, ey, verbose=0, return_dict=True)
    assert list(d) == case['evaluate_keys']
    for k in case['evaluate_keys']:
        np.testing.assert_allclose(d[k], g(case, f'evaluate/{k}'), rtol=RTOL, atol=ATOL, err_msg=f'evaluate {k}')
    np.testing.assert_allclose(m.evaluate(ex, ey, verbose=0), g(case, 'evaluate_list'), rtol=RTOL, atol=ATOL)


def test_one_batch_matches_keras():
    case = CASES['two_in_two_out']
    bx = {k: v[:16] for k, v in _data(case, None, 'x').items()}
    by = {k: v[:16] for k, v in _data(case, None, 'y').items()}
    before = compiled(case).test_on_batch(bx, by, return_dict=True)
    m = compiled(case)
    train = m.train_on_batch(bx, by, return_dict=True)
    after = m.test_on_batch(bx, by, return_dict=True)
    for got, key in [(before, 'test_before'), (train, 'train'), (after, 'test_after')]:
        assert list(got) == case['one_batch']['train_keys']
        for k, v in got.items(): np.testing.assert_allclose(v, g(case, f'tob/{key}/{k}'), rtol=RTOL, atol=ATOL, err_msg=f'{key} {k}')
    assert m.optimizer.iterations == 1
    for lname in case['architecture']['layers_with_weights']:
        for i, w in enumerate(m.get_layer(lname).get_weights()):
            np.testing.assert_allclose(w, g(case, f'tob_weights/{lname}/{i}'), rtol=RTOL, atol=ATOL)
