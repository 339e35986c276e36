"Masks as Keras has them: made by Embedding(mask_zero=True) and Masking, passed on, used by pooling, losses and metrics."
import os, sys, warnings
import os
os.environ.setdefault("KERAS_BACKEND", "torch")   # the interop extra's backend, before anything imports keras
import numpy as np, pytest
import seqlearn as sl
from seqlearn import layers as L, optimizers
HERE = os.path.join(os.path.dirname(__file__), 'fixtures')
sys.path.insert(0, HERE)
import masking_cases as mc

REF = np.load(os.path.join(HERE, 'keras_masking.npz'))

class _K:  # the namespace the shared model code builds from: seqlearn in place of keras
    Input, Model, layers = sl.Input, sl.Model, L

@pytest.mark.parametrize('case', sorted(mc.CASES))
def test_same_numbers_as_keras(case):
    loss, (opt, kw), metrics, use_sw = mc.CASES[case]
    d = mc.data(case)
    m = mc.build(case, _K)
    n = len(m.get_weights())
    m.set_weights([REF[f'{case}/w0/{i}'] for i in range(n)])
    x = mc.inputs(case, d)
    np.testing.assert_allclose(m.predict(x, verbose=0), REF[f'{case}/pred0'], rtol=1e-5, atol=1e-6)
    m.compile(getattr(optimizers, opt)(**kw), mc.loss_of(loss, sl.losses), metrics=metrics)
    h = m.fit(x, d['y'], batch_size=8, epochs=3, shuffle=False, verbose=0, sample_weight=d.get('sw') if use_sw else None)
    for k, v in h.history.items(): np.testing.assert_allclose(v, REF[f'{case}/history/{k}'], rtol=2e-4, atol=1e-5, err_msg=k)
    for k, v in m.evaluate(x, d['y'], verbose=0, return_dict=True).items():
        np.testing.assert_allclose(v, REF[f'{case}/evaluate/{k}'], rtol=2e-4, atol=1e-5, err_msg=k)
    for i, w in enumerate(m.get_weights()): np.testing.assert_allclose(w, REF[f'{case}/w1/{i}'], rtol=1e-3, atol=1e-5)

def test_padding_does_not_change_a_masked_model():
    "With mask_zero, extra padding (any length: the time axis is None) leaves the predictions as they were."
    x = sl.Input(shape=(None,), dtype='int64')
    h = L.GlobalAveragePooling1D()(L.Dense(3, activation='tanh')(L.Embedding(10, 4, mask_zero=True)(x)))
    m = sl.Model(x, L.Dense(1)(h))
    a = np.array([[3, 4, 5, 0], [1, 2, 0, 0]])
    b = np.concatenate([a, np.zeros((2, 5), np.int64)], axis=1)
    np.testing.assert_allclose(m.predict(a, verbose=0), m.predict(b, verbose=0), rtol=1e-6)
    assert m.output_shape == (None, 1) and m.layers[1].output_shape == (None, None, 4)

def test_masks_flow_in_a_sequential_chain_and_on_arrays():
    s = sl.Sequential([sl.Input((None,), dtype='int64'), L.Embedding(10, 4, mask_zero=True), L.Dense(2)])
    x = np.array([[1, 2, 0], [3, 0, 0]])
    out = s(x)
    np.testing.assert_array_equal(out._keras_mask, x != 0)
    np.testing.assert_array_equal(s.output_masks(None)[0], x != 0)  # what fit's loss reads
    e = L.Embedding(10, 3, mask_zero=True)
    y = L.Dense(2)(e(x))        # eager calls carry the mask from layer to layer, as Keras's do
    np.testing.assert_array_equal(y._keras_mask, x != 0)
    assert L.GlobalAveragePooling1D()(y).__class__ is np.ndarray   # a layer that uses the mask up ends it

def test_a_layer_without_masking_drops_the_mask_with_a_warning():
    x = np.array([[1, 2, 0]])
    y = L.Embedding(5, 2, mask_zero=True)(x)
    f = L.Flatten()
    with pytest.warns(UserWarning, match="Flatten.*does not support masking"): z = f(y)
    assert getattr(z, '_keras_mask', None) is None

def test_masking_layer_gradient_and_errors():
    x = np.random.default_rng(0).standard_normal((3, 4, 2)); x[0, 2:] = 0; x[2, 1:] = 0
    layer = L.Masking()
    keep = np.abs(x).sum(-1, keepdims=True) > 0
    g = np.random.default_rng(1).standard_normal(x.shape)
    layer.call(x); dx = layer.backward(g)
    np.testing.assert_array_equal(dx, g * keep)   # padding gets no gradient; real steps pass it through (x * 1)
    assert max(L.gradient_check(layer, x + 3.0).values()) < 1e-6   # away from the mask value the layer is the identity
    np.testing.assert_array_equal(layer.compute_mask(x), np.abs(x).sum(-1) > 0)
    with pytest.raises(ValueError, match="mask_zero=True"): L.Masking()(sl.Input(shape=(5,)))

def test_masked_global_average_gradient():
    rng = np.random.default_rng(1)
    x, mask = rng.standard_normal((3, 5, 2)), rng.random((3, 5)) > 0.3
    mask[:, 0] = True
    layer = L.GlobalAveragePooling1D()
    y = layer.call(x, mask=mask)
    np.testing.assert_allclose(y, np.array([x[i][mask[i]].mean(0) for i in range(3)]))
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    num = sl.core.numerical_gradient(lambda: float((layer.call(x, mask=mask) * g).sum()), x, 1e-6)
    np.testing.assert_allclose(dx, num, atol=1e-7)

def test_temporal_sample_weights_and_mask_weights():
    "A loss per time step: the mask makes the mean run over the real steps only (Keras's total/valid weighting)."
    from seqlearn.trainer import _mask_kw
    loss = sl.losses.get('mse')
    mask = np.array([[True, True, False], [True, False, False]])
    v = np.array([[1., 2., 100.], [3., 100., 100.]], np.float32)
    assert loss._reduce(v, None, **_mask_kw(mask, loss, np.zeros((2, 3, 1), np.float32))) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="return_sequences"): _mask_kw(mask[:, :2], loss, np.zeros((2, 3, 1), np.float32))

def test_a_predict_inside_fit_leaves_fits_buffers_on():
    "A callback's predict runs inside fit's buffered block: when it ends, fit's layers still reuse their buffers."
    m = sl.Sequential([sl.Input((3,)), L.Dense(4), L.Dense(1)])
    m.compile('sgd', 'mse')
    seen = []
    class C(sl.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None): seen.append(m.layers[0]._buffered)
        def on_epoch_end(self, epoch, logs=None): m.predict(np.ones((2, 3)), verbose=0)
    m.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[C()])
    assert seen == [True, True, True] and m.layers[0]._buffered is False

def test_a_call_given_by_patch_to_is_read_again():
    "Layers whose call is added by patch_to (as the notebooks write them) still receive masks: the signature is read again."
    class Late(L.Layer):
        supports_masking = True
    @sl.core.patch_to(Late)
    def call(self, x, mask=None): self.seen = mask; return x
    assert Late._call_takes_mask and not L.Layer._call_takes_mask
    layer, m = Late(), np.array([[True, False]])
    layer(np.ones((1, 2, 3)), mask=m)
    np.testing.assert_array_equal(layer.seen, m)

def test_bidirectional_with_a_mask_ignores_padding():
    rng = np.random.default_rng(0)
    x, m = rng.standard_normal((2, 5, 3)).astype('float32'), np.array([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], bool)
    xp, mp = np.concatenate([x, np.zeros((2, 3, 3), 'float32')], 1), np.concatenate([m, np.zeros((2, 3), bool)], 1)
    for mode in ('concat', 'sum', None):
        b = L.Bidirectional(L.LSTM(4), merge_mode=mode)
        a, p = b(x, mask=m), b(xp, mask=mp)
        for u, v in zip(a if mode is None else [a], p if mode is None else [p]): np.testing.assert_allclose(u, v, atol=1e-6)

@pytest.mark.parametrize('case', sorted(mc.CASES))
def test_masked_models_go_to_keras_and_back(case):
    pytest.importorskip('keras')
    from seqlearn.export import to_keras, from_keras, to_torch
    import torch
    d = mc.data(case)
    m = mc.build(case, _K)
    x = mc.inputs(case, d)
    km = to_keras(m)   # Keras makes the same masks: same predictions, padding included
    np.testing.assert_allclose(km.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_keras(km).predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    with torch.no_grad():   # PyTorch has no masks: the exported module computes them as seqlearn does
        t = to_torch(m).eval()
        out = t(*[torch.from_numpy(np.asarray(a)) for a in (x if isinstance(x, list) else [x])])
    np.testing.assert_allclose(out.numpy(), m.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
