"""seqlearn.utils against Keras 3's keras.utils, called on the same inputs (the interop extra)."""
import os
import numpy as np
import pytest
os.environ.setdefault('KERAS_BACKEND', 'torch')
keras = pytest.importorskip('keras')
import seqlearn
from seqlearn import utils

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


@pytest.mark.parametrize('labels, n', [([0, 2, 1], 3), (np.array([[1], [0], [3]]), None), (np.array([[0, 1], [2, 0]]), 3), ([], 2)])
def test_to_categorical_matches_keras(labels, n):
    np.testing.assert_array_equal(utils.to_categorical(labels, n), keras.utils.to_categorical(labels, n))


@pytest.mark.parametrize('kw', [{}, {'maxlen': 2}, {'maxlen': 5, 'padding': 'post'}, {'maxlen': 2, 'truncating': 'post'},
                                {'padding': 'post', 'truncating': 'post', 'value': -1}])
def test_pad_sequences_matches_keras(kw):
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8], []]
    np.testing.assert_array_equal(utils.pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw))
    vecs = [np.ones((3, 2)), np.arange(4.0).reshape(2, 2)]
    np.testing.assert_array_equal(utils.pad_sequences(vecs, dtype='float32', **kw), keras.utils.pad_sequences(vecs, dtype='float32', **kw))


@pytest.mark.parametrize('axis, order', [(-1, 2), (-1, 1)])
def test_normalize_matches_keras(axis, order):
    x = np.random.default_rng(0).normal(size=(4, 3)); x[1] = 0
    np.testing.assert_allclose(utils.normalize(x, axis, order), keras.utils.normalize(x, axis, order))


def test_where_keras_fails_seqlearn_is_right():
    "Keras 3.15's normalize breaks on axis=0 and its pad_sequences on maxlen=0; seqlearn does what they mean."
    x = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(utils.normalize(x, axis=0), x / np.linalg.norm(x, axis=0, keepdims=True))
    assert utils.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)


def test_set_random_seed_repeats_a_training_run():
    def run():
        utils.set_random_seed(3)
        m = seqlearn.Sequential([seqlearn.Dense(4, activation='relu', input_shape=(3,)), seqlearn.Dropout(0.5), seqlearn.Dense(1)])
        m.compile('adam', 'mse')
        x = np.random.rand(32, 3); return m.fit(x, x[:, :1], epochs=2, verbose=0).history['loss']
    assert run() == run()


def test_keras_imports_swapped():
    "What course code writes: `from keras.utils import to_categorical, pad_sequences` becomes seqlearn's."
    from seqlearn.utils import to_categorical, pad_sequences, normalize, set_random_seed
    assert to_categorical([1], 2).dtype == np.float32 and pad_sequences([[1]]).dtype == np.int32
