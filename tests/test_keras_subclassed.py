"""Subclassed models against numbers Keras 3 produced (tests/fixtures, made by make_keras_subclassed.py).

The same `Model` subclasses as the generator's, written against seqlearn: layers kept in a list filled in a loop and in a
dict, BatchNormalization and a dropout layer called inside `call` without `training=` (so the flag of fit / predict /
evaluate must reach them), a dict of outputs, keras.Model's docstring example with `call(self, inputs)`, a residual MLP
whose `call` does numpy arithmetic between layer calls (`x + 0.5 * block(x)`, a slice, a division by a scalar), and a model
with two inputs given as a list and a dict of outputs (two towers joined by Concatenate). Same initial
weights, same data, shuffle=False: per-epoch history (Keras 3's key names), final weights of every layer (moving
statistics included), predictions and evaluate must agree to float32 tolerance. The dropout masks come from `MaskDropout`,
which draws from its own numpy stream in both frameworks, so the masks are the same when the training flag is. The two last
models are also saved and loaded with seqlearn: the loaded model predicts exactly what it predicted before saving."""
import json, pathlib
import numpy as np
import pytest
from seqlearn import Model, Layer, layers as L, optimizers, clear_session, load_model

HERE = pathlib.Path(__file__).parent / 'fixtures'
REF = json.loads((HERE / 'keras_subclassed.json').read_text())
DATA = np.load(HERE / 'keras_subclassed.npz', allow_pickle=False)
RTOL, ATOL = 2e-4, 2e-5
CASES = {c['name']: c for c in REF['cases']}


class MaskDropout(Layer):
    "The generator's MaskDropout: masks from its own `np.random.default_rng(seed)`, one per training call; identity in inference."
    def __init__(self, rate, seed, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.draws, self._mask = 0, None

    def call(self, inputs, training=None):
        self._mask = None
        if not training: return inputs
        self._mask = ((self.rng.random(tuple(inputs.shape)) >= self.rate).astype(np.float32)
                      * np.float32(1.0 / (1.0 - self.rate)))
        self.draws += 1
        return inputs * self._mask

    def backward(self, grad): return grad if self._mask is None else grad * self._mask


class BlocksAndHeads(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = []  # a list filled after assignment
        for i in range(2):
            self.blocks.append(L.Dense(16, activation='relu', name=f'block{i}'))
        self.bn = L.BatchNormalization(name='bn')
        self.heads = {'reg': L.Dense(2, name='head_reg'),
                      'cls': L.Dense(3, activation='softmax', name='head_cls')}

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x)
        x = self.bn(x)  # no training=: the outer call's flag is used
        return {'reg': self.heads['reg'](x), 'cls': self.heads['cls'](x)}


class WithDropout(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = L.Dense(16, activation='relu', name='hidden')
        self.drop = MaskDropout(0.25, seed=1234, name='drop')
        self.hidden2 = L.Dense(8, activation='tanh', name='hidden2')
        self.drop2 = MaskDropout(0.5, seed=5678, name='drop2')
        self.out = L.Dense(1, name='out')

    def call(self, inputs, training=None):
        x = self.drop(self.hidden(inputs))  # no training=
        x = self.drop2(self.hidden2(x))  # no training=
        return self.out(x)


class MyModel(Model):
    "keras.Model's docstring example: call(self, inputs) has no training argument."
    def __init__(self):
        super().__init__()
        self.dense1 = L.Dense(32, activation='relu')
        self.dense2 = L.Dense(5, activation='softmax')

    def call(self, inputs):
        x = self.dense1(inputs)
        return self.dense2(x)


class ResidualMLP(Model):
    def __init__(self, width=16, depth=2, **kwargs):
        super().__init__(**kwargs)
        self.width, self.depth = width, depth
        self.proj = L.Dense(width, name='proj')
        self.blocks = []
        for i in range(depth):
            self.blocks.append(L.Dense(width, activation='tanh', name=f'block{i}'))
        self.out = L.Dense(1, name='out')

    def call(self, inputs):
        x = self.proj(inputs)
        for block in self.blocks:
            x = x + 0.5 * block(x)  # numpy arithmetic on the layers' outputs: traced
        return self.out(x - x[:, :1] / 4)  # a slice and a division by a scalar: traced too

    def get_config(self):
        return {**super().get_config(), 'width': self.width, 'depth': self.depth}


class TwoTower(Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tower_a = L.Dense(8, activation='relu', name='tower_a')
        self.tower_b = L.Dense(8, activation='relu', name='tower_b')
        self.join = L.Concatenate(name='join')
        self.score_head = L.Dense(1, name='score_head')
        self.label_head = L.Dense(3, activation='softmax', name='label_head')

    def call(self, inputs):
        a, b = inputs  # two inputs, given as a list [xa, xb]
        h = self.join([self.tower_a(a), self.tower_b(b)])
        return {'score': self.score_head(h), 'label': self.label_head(h)}


MODELS = {'BlocksAndHeads': BlocksAndHeads, 'WithDropout': WithDropout, 'MyModel': MyModel,
          'ResidualMLP': ResidualMLP, 'TwoTower': TwoTower}


def g(case, key): return DATA[f"{case['name']}/{key}"]


def named_layers(model):
    "(attribute path, layer) for every layer but an InputLayer, in model.layers order: the generator's layer keys ('blocks.0', 'heads.reg', 'dense1')."
    where = {}
    for attr, v in vars(model).items():
        if attr.startswith('_'): continue
        if isinstance(v, Layer): where[id(v)] = attr
        elif isinstance(v, (list, tuple)): where.update({id(l): f'{attr}.{i}' for i, l in enumerate(v)})
        elif isinstance(v, dict): where.update({id(l): f'{attr}.{k}' for k, l in v.items()})
    return [(where[id(l)], l) for l in model.layers if not isinstance(l, L.InputLayer)]  # a functional model's Input has none


def xy(case):
    name = case['name']
    x = g(case, 'x') if f'{name}/x' in DATA.files else [g(case, f'x/{i}') for i in range(sum(k.startswith(f'{name}/x/') for k in DATA.files))]
    y = ({k: g(case, f'y/{k}') for k in case['output_keys']} if f"{case['name']}/y" not in DATA.files else g(case, 'y'))
    return x, y


def set_initial_weights(model, case):
    for key, layer in named_layers(model):
        layer.set_weights([g(case, f'w_init/{key}/{i}') for i in range(len(layer.get_weights()))])


def compiled(case, model=None):
    clear_session()
    x, _ = xy(case)
    if model is None:
        model = MODELS[case['model_class']](**case.get('model_kwargs', {}))
        model([a[:1] for a in x] if isinstance(x, list) else x[:1])  # build every layer with an inference call, as the generator does
    set_initial_weights(model, case)
    c = case['compile']
    opt = c['optimizer'] if isinstance(c['optimizer'], str) else getattr(optimizers, c['optimizer']['class'])(**c['optimizer']['config'])
    model.compile(optimizer=opt, loss=c['loss'], loss_weights=c.get('loss_weights'), metrics=c['metrics'])
    return model


def outputs(pred): return {k: np.asarray(v) for k, v in pred.items()} if isinstance(pred, dict) else {'output': np.asarray(pred)}


def close(got, want, what):
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def fit_kwargs(case): return {k: v for k, v in case['fit'].items() if k not in ('x', 'y')}


@pytest.mark.parametrize('name', list(CASES))
def test_subclassed_training_matches_keras(name):
    case = CASES[name]
    m = compiled(case)
    x, y = xy(case)
    assert [k for k, _ in named_layers(m)] == case['layer_keys']  # Keras's layer order: attributes, lists and dicts in order
    assert {k: [list(w.shape) for w in l.get_weights()] for k, l in named_layers(m)} == case['layer_weight_shapes']
    assert m.count_params() == case['count_params']
    p = outputs(m.predict(x, verbose=0))
    assert sorted(p) == case['output_keys']
    for k, v in p.items(): close(v, g(case, f'pred_init/{k}'), f'initial prediction {k}')

    h = m.fit(x, y, **fit_kwargs(case))
    assert list(h.history) == case['history_keys'] and h.epoch == case['history_epochs']
    for k in case['history_keys']: close(h.history[k], g(case, f'history/{k}'), f'history {k}')
    assert m.optimizer.iterations == case['iterations']
    for key, layer in named_layers(m):
        for i, w in enumerate(layer.get_weights()): close(w, g(case, f'w_final/{key}/{i}'), f'final weight {key}/{i}')
    for k, v in outputs(m.predict(x, verbose=0)).items(): close(v, g(case, f'pred_final/{k}'), f'final prediction {k}')
    d = m.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == case['evaluate_keys']
    for k in case['evaluate_keys']: close(d[k], g(case, f'evaluate/{k}'), f'evaluate {k}')
    # one mask per training step; predict, evaluate and validation drew none (as in Keras)
    assert {k: l.draws for k, l in named_layers(m) if isinstance(l, MaskDropout)} == case['mask_draws']


def test_moving_statistics_moved():
    "The BatchNormalization called without training= updated its moving statistics during fit (and Keras's did too)."
    case = CASES['blocks_and_heads']
    for i in (2, 3):  # moving_mean, moving_variance
        assert not np.allclose(g(case, f'w_final/bn/{i}'), g(case, f'w_init/bn/{i}'), rtol=1e-3, atol=1e-3)


def functional_blocks_and_heads():
    "BlocksAndHeads as a functional model: Input -> blocks -> BN -> two heads, outputs a dict."
    inp = L.Input((6,))
    blocks = [L.Dense(16, activation='relu', name=f'block{i}') for i in range(2)]
    bn = L.BatchNormalization(name='bn')
    heads = {'reg': L.Dense(2, name='head_reg'), 'cls': L.Dense(3, activation='softmax', name='head_cls')}
    h = inp
    for b in blocks: h = b(h)
    h = bn(h)
    m = Model(inp, {'reg': heads['reg'](h), 'cls': heads['cls'](h)})
    m.blocks, m.bn, m.heads = blocks, bn, heads  # the same attribute paths as the subclass, for named_layers
    return m


def train_both(case):
    "The subclass and its functional twin at the same initial weights, trained alike."
    x, y = xy(case)
    sub, fun = compiled(case), compiled(case, functional_blocks_and_heads())
    assert [k for k, _ in named_layers(fun)] == [k for k, _ in named_layers(sub)]
    before = [outputs(m.predict(x, verbose=0)) for m in (sub, fun)], [m.evaluate(x, y, verbose=0, return_dict=True) for m in (sub, fun)]
    hs, hf = (m.fit(x, y, **fit_kwargs(case)) for m in (sub, fun))
    weights = [[w for _, l in named_layers(m) for w in l.get_weights()] for m in (sub, fun)]
    after = [outputs(m.predict(x, verbose=0)) for m in (sub, fun)], [m.evaluate(x, y, verbose=0, return_dict=True) for m in (sub, fun)]
    return before, (hs.history, hf.history), weights, after


def assert_same(pair, eq):
    (ps, pf), (es, ef) = pair
    assert sorted(ps) == sorted(pf) and list(es) == list(ef)
    for k in ps: eq(ps[k], pf[k], f'prediction {k}')
    for k in es: eq(es[k], ef[k], f'evaluate {k}')


def bitwise(a, b, what): assert np.array_equal(a, b), what


def test_subclassed_and_functional_train_bitwise_identically():
    "One engine: the subclassed model's traced steps and the functional graph's are the same records (the softmax + cross-entropy fusion included)."
    before, (hs, hf), (ws, wf), after = train_both(CASES['blocks_and_heads'])
    assert list(hs) == list(hf)
    for k in hs: bitwise(hs[k], hf[k], f'history {k}')
    for i, (a, b) in enumerate(zip(ws, wf)): bitwise(a, b, f'weight {i}')
    assert_same(after, bitwise)




@pytest.mark.parametrize('name', [n for n, c in CASES.items() if 'save_load' in c])
def test_saved_subclass_loads_and_predicts_the_same(name, tmp_path):
    "Trained as above, saved with seqlearn and loaded with the class in custom_objects: the same class, config, weights and predictions."
    case = CASES[name]
    m = compiled(case)
    x, y = xy(case)
    m.fit(x, y, **fit_kwargs(case))
    before = outputs(m.predict(x, verbose=0))
    path = tmp_path / f'{name}.seqlearn'
    m.save(path)
    cls = MODELS[case['model_class']]
    loaded = load_model(path, custom_objects={cls.__name__: cls})
    assert type(loaded) is cls and loaded is not m
    for k, v in case.get('model_kwargs', {}).items(): assert getattr(loaded, k) == v  # get_config's arguments came back
    assert [k for k, _ in named_layers(loaded)] == case['layer_keys']
    for (key, a), (_, b) in zip(named_layers(m), named_layers(loaded)):
        for i, (wa, wb) in enumerate(zip(a.get_weights(), b.get_weights())): bitwise(wa, wb, f'loaded weight {key}/{i}')
    after = outputs(loaded.predict(x, verbose=0))
    assert sorted(after) == sorted(before) == case['output_keys']
    for k in after:
        bitwise(after[k], before[k], f'loaded prediction {k}')            # exactly what the saved model predicted
        close(after[k], g(case, f'pred_final/{k}'), f'loaded prediction {k} against Keras')
