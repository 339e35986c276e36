"""Keras 3's losses and metrics in seqlearn against numbers Keras produced (tests/fixtures/make_keras_losses_metrics.py).

- every loss, for each reduction, with and without sample weights: the value and the gradient with respect to y_pred
  (Keras's from torch autograd) agree to float32 precision; Keras's loss functions give the same per-sample losses;
- every metric, streamed over three batches with and without sample weights: result() after each batch agrees;
- four short training runs with the new losses (focal, hinge, Poisson, sparse with ignore_class) train as Keras does;
- every new loss's gradient agrees with a central difference (float64), for each reduction and with weights;
- names and aliases resolve as in Keras, unknown names suggest the closest, bad arguments are refused with the fix."""
import os, pathlib, sys
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Input, losses, metrics, optimizers
from seqlearn.losses import numeric_loss_grad

os.environ.setdefault('KERAS_BACKEND', 'torch')   # only the export test imports Keras (and skips without it)
HERE = pathlib.Path(__file__).parent / 'fixtures'
sys.path.insert(0, str(HERE))
import losses_metrics_cases as C

REF = np.load(HERE / 'keras_losses_metrics.npz', allow_pickle=False)
D = C.data()
RTOL, ATOL = 1e-5, 1e-6


def _close(a, b, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol, err_msg=what)


def _expected_none_grad(loss, y, p, w):
    "d sum(weighted per-sample losses)/dy_pred: what Keras's autograd gives for reduction None."
    g = loss.elementwise_grad(y, p)
    if w is None: return g
    ax = loss.loss_axis % p.ndim
    return g * np.expand_dims(np.broadcast_to(w.reshape(w.shape + (1,) * (p.ndim - 1 - w.ndim)), g.shape[:ax] + g.shape[ax + 1:]), ax)


@pytest.mark.parametrize('red', C.REDUCTIONS, ids=str)
@pytest.mark.parametrize('case', list(C.LOSSES))
def test_loss_matches_keras(case, red):
    cls, kw, y, p, sw = C.LOSSES[case]
    yv, pv, swv = C.loss_inputs(D, y, p, sw)
    for tag, w in (('nosw', None), ('sw', swv)):
        key = f'loss/{case}/{red}/{tag}'
        loss = getattr(losses, cls)(reduction=red, **kw)
        _close(loss(yv, pv, w), REF[f'{key}/value'], f'{key} value')
        yp = loss.prepare_targets(yv, pv.shape)
        g = _expected_none_grad(loss, yp, pv, w) if red is None else loss.gradient(yp, pv, w)
        _close(g, REF[f'{key}/grad'], f'{key} gradient')


@pytest.mark.parametrize('red', C.REDUCTIONS[:3])
@pytest.mark.parametrize('case', C.MASKED)
def test_masked_output_loss_matches_keras(case, red):
    "An output's mask (real steps) and the loss's own (ignore_class) combine as in Keras: the mean runs over steps real in both."
    cls, kw, y, p, sw = C.LOSSES[case]
    yv, pv, swv = C.loss_inputs(D, y, p, sw)
    mask = C.output_mask()
    for tag, w in (('nosw', None), ('sw', swv)):
        key = f'masked/{case}/{red}/{tag}'
        loss = getattr(losses, cls)(reduction=red, **kw)
        yp = loss.prepare_targets(yv, pv.shape)
        _close(loss._reduce(loss.values(yp, pv), w, mask), REF[f'{key}/value'], f'{key} value')
        _close(loss.gradient(yp, pv, w, mask), REF[f'{key}/grad'], f'{key} gradient')


@pytest.mark.parametrize('name', list(C.FUNCTIONS))
def test_loss_function_matches_keras(name):
    kw, y, p = C.FUNCTIONS[name]
    f = getattr(losses, name)
    _close(f(D[y], D[p], **kw), REF[f'fn/{name}'], name)
    if name in losses.FUNCTIONS: assert type(losses.get(f)) is losses.LOSSES[name]   # resolves to its class, as compile(loss=f) needs


@pytest.mark.parametrize('case', list(C.METRICS))
def test_metric_matches_keras(case):
    cls, kw, y, p = C.METRICS[case]
    batches = C.metric_batches(y, p)
    for tag in ('nosw', 'sw'):
        m = getattr(metrics, cls)(**kw)
        for i, (yb, pb, swb) in enumerate(batches):
            m.update_state(yb, pb, sample_weight=swb if tag == 'sw' else None)
            _close(m.result(), REF[f'metric/{case}/{tag}/{i}'], f'{case} {tag} after batch {i}')
        m.reset_state(); m.update_state(*batches[0][:2])
        _close(m.result(), REF[f'metric/{case}/nosw/0'], f'{case} after reset_state')


@pytest.mark.parametrize('case', list(C.TRAIN))
def test_training_with_new_losses_matches_keras(case):
    layers, (lcls, lkw), (ocls, okw), mets, target, use_sw = C.TRAIN[case]
    td = C.train_data()
    g = lambda k: REF[f'train/{case}/{k}']
    model = Sequential([Input((C.N_IN,))] + [Dense(u, activation=a) for u, a in layers])
    model.set_weights([g(f'w0/{i}') for i in range(2 * len(layers))])
    ms = [m if isinstance(m, str) else getattr(metrics, m[0])(**m[1]) for m in mets]
    model.compile(getattr(optimizers, ocls)(**okw), getattr(losses, lcls)(**lkw), metrics=ms)
    h = model.fit(td['x'], td[target], batch_size=16, epochs=2, shuffle=False, verbose=0, sample_weight=td['sw'] if use_sw else None)
    keys = sorted(k.split('/')[-1] for k in REF.files if k.startswith(f'train/{case}/history/'))
    assert sorted(h.history) == keys
    for k in keys: _close(h.history[k], g(f'history/{k}'), f'history {k}', rtol=1e-4, atol=1e-5)
    for i, w in enumerate(model.get_weights()): _close(w, g(f'w/{i}'), f'weight {i}', rtol=1e-4, atol=1e-5)
    ev = model.evaluate(td['x'], td[target], verbose=0, return_dict=True)
    for k, v in ev.items(): _close(v, g(f'evaluate/{k}'), f'evaluate {k}', rtol=1e-4, atol=1e-5)


# --- gradients: every new loss against a central difference, in float64 -------------------------------------------------

def _grad_cases():
    r = np.random.default_rng(5)
    n, k = 5, 4
    reg = r.normal(size=(n, k)), r.normal(size=(n, k))
    pos = r.uniform(0, 3, (n, k)), r.uniform(0.1, 3, (n, k))
    yb, pb = (r.random((n, k)) > .5).astype(float), r.uniform(.05, .95, (n, k))
    yc, pc = np.eye(k)[r.integers(0, k, n)], r.dirichlet(np.ones(k), n)
    lab = r.integers(0, k, n); lab[2] = 7
    seq_lab = r.integers(0, k, (n, 3)); seq_lab[0, 1] = seq_lab[4, 2] = 7
    seq = r.normal(size=(n, 3, k)), r.normal(size=(n, 3, k))
    L = losses
    return {
        'mape': (L.MeanAbsolutePercentageError(), *reg), 'msle': (L.MeanSquaredLogarithmicError(), *pos),
        'log_cosh': (L.LogCosh(), *reg), 'cosine': (L.CosineSimilarity(), *reg), 'cosine_axis1': (L.CosineSimilarity(axis=1), *seq),
        'hinge': (L.Hinge(), yb, reg[1]), 'hinge_pm1': (L.Hinge(), 2 * yb - 1, reg[1]), 'squared_hinge': (L.SquaredHinge(), yb, reg[1]),
        'categorical_hinge': (L.CategoricalHinge(), yc, reg[1]), 'kld': (L.KLDivergence(), r.dirichlet(np.ones(k), n), pc),
        'poisson': (L.Poisson(), *pos), 'bfce': (L.BinaryFocalCrossentropy(), yb, pb),
        'bfce_all': (L.BinaryFocalCrossentropy(True, .3, 2.5, True, .1), yb, reg[1]),
        'cfce': (L.CategoricalFocalCrossentropy(), yc, pc),
        'cfce_all': (L.CategoricalFocalCrossentropy([.1, .2, .3, .4], 1.5, True, .2), yc, reg[1]),
        'scce_ignore': (L.SparseCategoricalCrossentropy(ignore_class=7), lab, pc),
        'scce_ignore_logits': (L.SparseCategoricalCrossentropy(True, ignore_class=7), lab, reg[1]),
        'scce_ignore_seq': (L.SparseCategoricalCrossentropy(True, ignore_class=7), seq_lab, seq[1]),
        'mse_seq': (L.MeanSquaredError(), *seq), 'cgce': (L.CategoricalGeneralizedCrossEntropy(.3), lab % k, pc),
    }

GRAD_CASES = _grad_cases()


@pytest.mark.parametrize('red', ['sum_over_batch_size', 'sum', 'mean_with_sample_weight'])
@pytest.mark.parametrize('case', list(GRAD_CASES))
def test_gradient_matches_central_difference(case, red):
    loss, y, p = GRAD_CASES[case]
    loss.reduction = red
    sw = np.random.default_rng(1).uniform(.5, 2, len(p))
    for w in (None, sw):
        g = loss.gradient(loss.prepare_targets(y, p.shape), p, w)
        np.testing.assert_allclose(g, numeric_loss_grad(loss, y, p, w), rtol=1e-5, atol=1e-7, err_msg=f'{case} {red} sw={w is not None}')


def test_fused_gradient_respects_ignore_class():
    "The sparse loss after a softmax trains through `logits_gradient`: ignored labels pull nothing, and the mean skips them."
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)
    z = np.random.default_rng(2).normal(size=(6, 3)); lab = np.array([0, -1, 2, 1, -1, 0])
    sm = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    sw = np.linspace(.5, 2, 6)
    for w in (None, sw):
        fused = loss.logits_gradient(loss.prepare_targets(lab, z.shape), sm(z), w)
        np.testing.assert_allclose(fused, numeric_loss_grad(lambda y, zz, ww: loss(y, sm(zz), ww), lab, z, w), rtol=1e-5, atol=1e-8)
        assert not fused[[1, 4]].any()
    keep = lab != -1
    np.testing.assert_allclose(loss(lab, sm(z)), -np.log(sm(z)[np.arange(6), np.where(keep, lab, 0)])[keep].mean(), rtol=1e-6)


# --- names --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('name,cls', [
    ('mape', 'MeanAbsolutePercentageError'), ('MAPE', 'MeanAbsolutePercentageError'), ('msle', 'MeanSquaredLogarithmicError'),
    ('kld', 'KLDivergence'), ('KLD', 'KLDivergence'), ('kullback_leibler_divergence', 'KLDivergence'), ('kl_divergence', 'KLDivergence'),
    ('logcosh', 'LogCosh'), ('log_cosh', 'LogCosh'), ('cosine_similarity', 'CosineSimilarity'), ('hinge', 'Hinge'),
    ('squared_hinge', 'SquaredHinge'), ('categorical_hinge', 'CategoricalHinge'), ('poisson', 'Poisson'),
    ('binary_focal_crossentropy', 'BinaryFocalCrossentropy'), ('categorical_focal_crossentropy', 'CategoricalFocalCrossentropy'),
    ('CategoricalFocalCrossentropy', 'CategoricalFocalCrossentropy'), ('LogCosh', 'LogCosh'), ('bce', 'BinaryCrossentropy'),
    ('CategoricalGeneralizedCrossEntropy', 'CategoricalGeneralizedCrossEntropy')])
def test_loss_names(name, cls):
    assert type(losses.get(name)).__name__ == cls


def test_loss_defaults_are_keras():
    assert losses.get('logcosh').name == 'log_cosh' and losses.get('kld').name == 'kl_divergence'
    f = losses.BinaryFocalCrossentropy()
    assert (f.apply_class_balancing, f.alpha, f.gamma, f.from_logits, f.label_smoothing) == (False, .25, 2.0, False, 0.0)
    c = losses.CategoricalFocalCrossentropy()
    assert (c.alpha, c.gamma, c.name) == (.25, 2.0, 'categorical_focal_crossentropy')
    assert losses.SparseCategoricalCrossentropy(ignore_class=0).get_config() == {
        'name': 'sparse_categorical_crossentropy', 'reduction': 'sum_over_batch_size', 'from_logits': False, 'ignore_class': 0}
    for cls in losses._CLASSES.values():   # a config rebuilds the same loss
        l = cls(); assert type(l).from_config(l.get_config()).get_config() == l.get_config()


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="Did you mean 'hinge'"): losses.get('hinje')
    with pytest.raises(ValueError, match="Did you mean 'kld'"): losses.get('kldd')
    with pytest.raises(ValueError, match="Did you mean 'log_cosh_error'"): metrics.get('log_cosh_eror')
    with pytest.raises(ValueError, match="Did you mean 'mean_with_sample_weight'"): losses.Poisson(reduction='mean_with_weights')


@pytest.mark.parametrize('name,cls', [
    ('root_mean_squared_error', 'RootMeanSquaredError'), ('mape', 'MeanAbsolutePercentageError'), ('msle', 'MeanSquaredLogarithmicError'),
    ('cosine_similarity', 'CosineSimilarity'), ('log_cosh_error', 'LogCoshError'), ('r2_score', 'R2Score'), ('f1_score', 'F1Score'),
    ('f_beta_score', 'FBetaScore'), ('sparse_top_k_categorical_accuracy', 'SparseTopKCategoricalAccuracy'), ('hinge', 'Hinge'),
    ('squared_hinge', 'SquaredHinge'), ('categorical_hinge', 'CategoricalHinge'), ('kl_divergence', 'KLDivergence'),
    ('poisson', 'Poisson'), ('binary_crossentropy', 'BinaryCrossentropy'), ('bce', 'BinaryCrossentropy'),
    ('categorical_crossentropy', 'CategoricalCrossentropy'), ('sparse_categorical_crossentropy', 'SparseCategoricalCrossentropy'),
    ('Accuracy', 'Accuracy'), ('R2Score', 'R2Score')])
def test_metric_names(name, cls):
    m = metrics.get(name)
    assert type(m).__name__ == cls and m.name == name   # as Keras: a metric given by name is named by it


def test_metric_functions_resolve_to_classes():
    for f, cls in [(losses.hinge, metrics.Hinge), (metrics.kl_divergence, metrics.KLDivergence), (metrics.poisson, metrics.Poisson),
                   (metrics.sparse_top_k_categorical_accuracy, metrics.SparseTopKCategoricalAccuracy),
                   (losses.mean_absolute_percentage_error, metrics.MeanAbsolutePercentageError)]:
        assert type(metrics.get(f)) is cls
    with pytest.raises(ValueError, match="PrecisionAtRecall\\(recall=0.8\\)"): metrics.get('precision_at_recall')


def test_compile_with_new_names_trains():
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = np.abs(x[:, :2]) + .1
    m = Sequential([Input((3,)), Dense(2, activation='softplus')])
    m.compile('adam', loss='kld', metrics=['mape', 'msle', 'root_mean_squared_error', 'r2_score', 'log_cosh_error'])
    h = m.fit(x, y / y.sum(1, keepdims=True), epochs=2, verbose=0)
    assert set(h.history) == {'loss', 'mape', 'msle', 'root_mean_squared_error', 'r2_score', 'log_cosh_error'}
    m.compile('adam', loss='poisson', metrics=[metrics.F1Score()])   # a per-class array in the logs, as Keras
    h = m.fit(x, (y > .8).astype(np.float32), epochs=1, verbose=0)
    assert np.shape(h.history['f1_score'][0]) == (2,)


# --- refusals -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('make,match', [
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class='pad'), 'ignore_class must be a whole number'),
    (lambda: losses.SparseCategoricalCrossentropy(axis=1), 'last axis only'),
    (lambda: losses.CosineSimilarity(axis=None), 'axis must be one whole number'),
    (lambda: losses.CosineSimilarity(axis=0)(np.ones((2, 3)), np.ones((2, 3))), 'axis 0 is the batch'),
    (lambda: losses.CategoricalFocalCrossentropy(alpha=[.5, .5])(np.eye(3), np.eye(3)), 'alpha has 2 weights but the output has 3'),
    (lambda: losses.BinaryFocalCrossentropy()(np.array([[2.]]), np.array([[.5]])), 'targets between 0 and 1'),
    (lambda: losses.CategoricalFocalCrossentropy()(np.array([0, 1]), np.eye(2)), 'one-hot targets'),
    (lambda: losses.SparseCategoricalCrossentropy()(np.array([0, -1]), np.eye(2)), 'ignore_class=-1'),
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class=-1)(np.array([0, 5, -1]), np.eye(3)), 'labels must be in 0..2'),
    (lambda: losses.CategoricalGeneralizedCrossEntropy(q=1), 'q must be in the interval \\(0, 1\\)'),
    (lambda: metrics.R2Score(class_aggregation='mean'), "'variance_weighted_average'"),
    (lambda: metrics.R2Score(num_regressors=-1), 'num_regressors must be a whole number >= 0'),
    (lambda: metrics.F1Score(average='samples'), "'micro', 'macro' or 'weighted'"),
    (lambda: metrics.FBetaScore(beta=0), 'beta must be a number > 0'),
    (lambda: metrics.F1Score(threshold=1.5), '0 < threshold <= 1'),
    (lambda: metrics.F1Score().check_targets((8, 3, 2), (None, 3, 2)), 'needs 2D targets and outputs'),
    (lambda: metrics.R2Score().update_state(np.ones((2, 3, 1)), np.ones((2, 3, 1))), 'needs 2D targets and outputs'),
    (lambda: metrics.PrecisionAtRecall(recall=1.5), 'must be in \\[0, 1\\]'),
    (lambda: metrics.RecallAtPrecision(.5, num_thresholds=0), 'num_thresholds must be a whole number > 0'),
])
def test_refusals_teach(make, match):
    with pytest.raises(ValueError, match=match): make()


# --- saving and export --------------------------------------------------------------------------------------------------

def _compiled():
    m = Sequential([Input((3,)), Dense(3, activation='softmax')])
    m.compile('adam', loss=losses.CategoricalFocalCrossentropy(alpha=[.2, .3, .5], gamma=1.0),
              metrics=[metrics.F1Score(average='macro', threshold=.4), metrics.PrecisionAtRecall(.7, num_thresholds=20, class_id=1),
                       metrics.R2Score(num_regressors=1), metrics.SparseTopKCategoricalAccuracy(k=2), metrics.TopKCategoricalAccuracy(k=2),
                       metrics.BinaryAccuracy(threshold=.7), 'kl_divergence', losses.hinge])
    return m


def test_save_and_load_keep_new_losses_and_metrics(tmp_path):
    from seqlearn import load_model
    m = _compiled()
    m.save(tmp_path / 'm.keras')
    m2 = load_model(tmp_path / 'm.keras')
    assert m2.loss.get_config() == m.loss.get_config()
    got = [x if isinstance(x, str) else x.get_config() if hasattr(x, 'get_config') else x.__name__ for x in m2._compile_config['metrics']]
    want = [x if isinstance(x, str) else x.get_config() if hasattr(x, 'get_config') else x.__name__ for x in m._compile_config['metrics']]
    assert got == want


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_to_keras_and_back_keep_new_losses_and_metrics():
    pytest.importorskip('keras'); pytest.importorskip('torch')
    from seqlearn.export import to_keras, from_keras
    m = _compiled()
    km = to_keras(m)
    assert type(km.loss).__name__ == 'CategoricalFocalCrossentropy' and km.loss.alpha == [.2, .3, .5] and km.loss.gamma == 1.0
    back = from_keras(km)
    assert back.loss.get_config() == m.loss.get_config()
    cfgs = [x.get_config() for x in back._compile_config['metrics'] if not isinstance(x, str) and hasattr(x, 'get_config')]
    assert {'name': 'f1_score', 'average': 'macro', 'threshold': .4} in cfgs
    assert {'name': 'precision_at_recall', 'recall': .7, 'num_thresholds': 20, 'class_id': 1} in cfgs
    assert {'name': 'binary_accuracy', 'threshold': .7} in cfgs and {'name': 'top_k_categorical_accuracy', 'k': 2} in cfgs
