"""seqlearn against numbers Keras 3 produced (tests/fixtures, made by make_keras_reference.py).

Same initial weights, same data, shuffle=False: predictions, per-epoch history, final weights,
evaluate() and the optimizer's step count must agree to float32 tolerance."""
import json, pathlib
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Input, losses, optimizers, metrics, regularizers

HERE = pathlib.Path(__file__).parent / 'fixtures'
REF = json.loads((HERE / 'keras_reference.json').read_text())
DATA = np.load(HERE / 'keras_reference.npz', allow_pickle=False)
RTOL, ATOL = 2e-4, 2e-5


def _obj(module, spec):
    cfg = dict(spec.get('config', {}))
    lr = cfg.get('learning_rate')
    if isinstance(lr, dict): cfg['learning_rate'] = getattr(optimizers, lr['class'])(**lr['config'])
    return getattr(module, spec['class'])(**cfg)


def _model(case):
    layers = [Input((5,))]
    for l in case['layers']:
        reg = l.get('kernel_regularizer')
        layers.append(Dense(l['units'], activation=l['activation'],
                            kernel_regularizer=None if reg is None else getattr(regularizers, reg['class'])(**reg['config'])))
    return Sequential(layers)


def _metric(spec):
    return spec if isinstance(spec, str) else getattr(metrics, spec['class'])(**spec['config'])


@pytest.mark.parametrize('case', REF['cases'], ids=[c['name'] for c in REF['cases']])
def test_training_matches_keras(case):
    name = case['name']
    g = lambda k: DATA[f'{name}/{k}']
    model = _model(case)
    n_w = len([k for k in DATA.files if k.startswith(f'{name}/w_init/')])
    model.set_weights([g(f'w_init/{i}') for i in range(n_w)])
    np.testing.assert_allclose(model.predict(g('x'), verbose=0), g('pred_init'), rtol=RTOL, atol=ATOL)
    model.compile(optimizer=_obj(optimizers, case['optimizer']), loss=_obj(losses, case['loss']),
                  metrics=[_metric(m) for m in case['metrics']])
    fit = dict(case['fit'])
    kw = dict(batch_size=fit['batch_size'], epochs=fit['epochs'], shuffle=fit['shuffle'], verbose=0)
    if 'validation_split' in fit: kw['validation_split'] = fit['validation_split']
    if 'initial_epoch' in fit: kw['initial_epoch'] = fit['initial_epoch']
    if 'class_weight' in fit: kw['class_weight'] = {int(k): v for k, v in fit['class_weight'].items()}
    if fit.get('sample_weight'): kw['sample_weight'] = g('sample_weight')
    h = model.fit(g('x'), g('y'), **kw)
    assert sorted(h.history) == sorted(case['history_keys'])
    for k in case['history_keys']:
        np.testing.assert_allclose(h.history[k], g(f'history/{k}'), rtol=RTOL, atol=ATOL, err_msg=f'history {k}')
    assert model.optimizer.iterations == int(g('iterations'))
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, g(f'w_final/{i}'), rtol=RTOL, atol=ATOL, err_msg=f'final weight {i}')
    np.testing.assert_allclose(model.predict(g('x'), verbose=0), g('pred_final'), rtol=RTOL, atol=ATOL)
    ev = model.evaluate(g('x'), g('y'), verbose=0, return_dict=True)
    for k in case['evaluate_keys']:
        np.testing.assert_allclose(ev[k], g(f'evaluate/{k}'), rtol=RTOL, atol=ATOL, err_msg=f'evaluate {k}')


@pytest.mark.parametrize('case', [c for c in REF['cases'] if c['has_lr_schedule']], ids=lambda c: c['name'])
def test_schedules_match_keras(case):
    sched = _obj(optimizers, case['optimizer'])._learning_rate
    np.testing.assert_allclose([sched(i) for i in range(10)], DATA[f"{case['name']}/lr_schedule"], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('case', REF['loss_values'], ids=[c['name'] for c in REF['loss_values']])
def test_loss_values_match_keras(case):
    g = lambda k: DATA[f"loss_values/{case['name']}/{k}"]
    loss = _obj(losses, case['loss'])
    sw = g('sample_weight') if case['uses_sample_weight'] else None
    v = loss(g('y_true'), g('y_pred').astype(np.float32), sample_weight=sw)
    assert np.isfinite(v)
    np.testing.assert_allclose(v, g('value'), rtol=1e-4, atol=1e-5)
