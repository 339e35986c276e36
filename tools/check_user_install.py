"""A user's install: `pip install seqlearn` brings only the runtime requirements (numpy, ipywidgets, matplotlib,
threadpoolctl). Run with such an environment's Python (CI builds one beside the dev environment):

    python tools/check_user_install.py

It checks that no development tool or framework is installed there, then imports and uses every display a notebook
shows — the live summary, the training-progress widget, weight histograms, activation statistics — and renders each
one's static picture (what a saved notebook and the docs keep). Prints '<n> passed, 0 failed' at the end; any failure
raises."""
import importlib.util, sys
import numpy as np

checks = []
def check(name):
    def run(f):
        f(); checks.append(name); print(f"ok  {name}")
        return f
    return run

@check("only the runtime requirements are installed")
def _():
    extra = [m for m in ('fastcore', 'nbdev', 'execnb', 'torch', 'keras', 'sklearn', 'pytest') if importlib.util.find_spec(m)]
    assert not extra, f"this environment has {extra}: not a user's install"

import seqlearn
from seqlearn import Sequential, Input, Dense, Dropout, ActivationStats, set_seed
from seqlearn import widgets

def model():
    set_seed(0)
    m = Sequential([Input((4,)), Dense(8, activation='relu'), Dropout(0.1), Dense(1)])
    m.compile('adam', 'mse')
    return m

x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32'); y = x.sum(1, keepdims=True)

@check("the live summary renders its table and diagram")
def _():
    s = model().summary(live=True)
    bundle = s._repr_mimebundle_()
    assert 'text/html' in bundle and 'dense' in bundle['text/html'], list(bundle)

@check("the training-progress widget follows a fit and keeps its picture")
def _():
    m, p = model(), widgets.TrainingProgress()
    m.fit(x, y, epochs=3, verbose=0, callbacks=[p])
    bundle = p._repr_mimebundle_()
    assert 'text/html' in bundle or 'image/png' in bundle, list(bundle)

@check("weight histograms record a fit and render")
def _():
    m, h = model(), widgets.WeightHistograms()
    m.fit(x, y, epochs=3, verbose=0, callbacks=[h])
    assert 'text/html' in h._repr_mimebundle_()

@check("activation statistics record a fit and render")
def _():
    m, a = model(), ActivationStats()
    m.fit(x, y, epochs=2, verbose=0, callbacks=[a])
    assert a._repr_mimebundle_()

@check("every module imports; the interop extra's PyTorch modules say how to get PyTorch")
def _():
    import importlib, pkgutil
    for m in pkgutil.walk_packages(seqlearn.__path__, 'seqlearn.'):
        if m.name == 'seqlearn.torch_modules':   # only export.to_torch imports it, after asking for PyTorch itself
            try: importlib.import_module(m.name)
            except ImportError as e: assert 'pip install "seqlearn[interop]"' in str(e), e
            else: raise AssertionError("seqlearn.torch_modules imported without PyTorch installed")
        else: importlib.import_module(m.name)

print(f"{len(checks)} passed, 0 failed")
