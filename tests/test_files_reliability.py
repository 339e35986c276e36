"""Files that survive crashes, strangers and damage (issue 13).

- BackupAndRestore resumes in the same session after the model is rebuilt, and a backup that does not fit the model
  changes nothing;
- saved files get the mode `open(path, 'w')` would give (an existing file keeps its own);
- temporary files of killed saves are removed, and a missing folder is named;
- every damaged or hostile file is a ModelFileError (byte flips, truncations, hostile JSON, oversized members);
- ModelCheckpoint creates its folder and saves every N batches with `save_freq=N`.
"""
import io, json, os, pathlib, stat, subprocess, sys, time, tracemalloc, warnings, zipfile
import numpy as np
import pytest

import seqlearn.saving as sm
from seqlearn import Sequential, Dense, Dropout, Input, set_seed, clear_session
from seqlearn.callbacks import BackupAndRestore, LambdaCallback, ModelCheckpoint
from seqlearn.core import get_rng
from seqlearn.models import load_model, ModelFileError
from seqlearn.saving import restore_backup, save_backup

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 3)).astype('float32')
Y = rng.normal(size=(40, 2)).astype('float32')
posix_only = pytest.mark.skipif(os.name != 'posix', reason='file modes and umask are POSIX')


def build(hidden=4, optimizer='adam', dropout=False):
    "The same code a user runs twice: automatic layer names count up in a session."
    layers = [Input((3,)), Dense(hidden, activation='relu')] + ([Dropout(0.3)] if dropout else []) + [Dense(2)]
    m = Sequential(layers)
    m.compile(optimizer, 'mse')
    return m


def trained(**kw):
    set_seed(0); clear_session()
    m = build(**kw)
    m.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    return m


def rewrite(src, dst, change):
    "Copy a zip file, passing each member through `change(name, bytes)` (None drops it); the CRCs stay valid."
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zout:
        for n in zin.namelist():
            data = change(n, zin.read(n))
            if data is not None: zout.writestr(n, data)


def npy(a):
    b = io.BytesIO(); np.save(b, a); return b.getvalue()


def edit_json(name, f):
    "A `change` for `rewrite` that edits one JSON member with `f(document)`."
    def change(n, d):
        if n != name: return d
        doc = json.loads(d); out = f(doc)
        return json.dumps(doc if out is None else out)
    return change


# ---------------------------------------------------------------------------------------------------------------------
# 1. BackupAndRestore in the same session
# ---------------------------------------------------------------------------------------------------------------------

class Crash(Exception): pass


def crash_when(condition):
    "A hook that raises Crash (an error escaping fit, as a bug or a lost connection would) when `condition()` holds."
    def hook(index, logs):
        if condition(index): raise Crash
    return hook


@pytest.mark.parametrize('where', ['epoch_end', 'mid_epoch'])
@pytest.mark.parametrize('dropout', [False, True])
def test_backup_resumes_after_rebuild_in_same_session(tmp_path, where, dropout):
    set_seed(0); clear_session()
    straight = build(dropout=dropout)
    straight.fit(X, Y, epochs=5, batch_size=8, verbose=0)
    set_seed(0); clear_session()
    m = build(dropout=dropout)
    if where == 'epoch_end': crash = LambdaCallback(on_epoch_end=crash_when(lambda epoch: epoch == 2))
    else: crash = LambdaCallback(on_train_batch_end=crash_when(lambda batch: m.optimizer.iterations == 13))
    with pytest.raises(Crash):
        m.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[BackupAndRestore(tmp_path), crash])
    again = build(dropout=dropout)  # same code, same session: other automatic names
    assert again.layers[0].name != m.layers[0].name
    h = again.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert h.epoch == ([3, 4] if where == 'epoch_end' else [2, 3, 4])
    for a, b in zip(straight.get_weights(), again.get_weights()): assert np.array_equal(a, b)
    assert straight.optimizer.iterations == again.optimizer.iterations


def _state(m):
    opt = m.optimizer
    return ([w.copy() for w in m.get_weights()], opt.iterations, {k: v.copy() for k, v in opt.slots.items()},
            json.dumps(get_rng().bit_generator.state))


def _same_state(a, b):
    (wa, ia, sa, ra), (wb, ib, sb, rb) = a, b
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb)) and len(wa) == len(wb)
    assert ia == ib and ra == rb
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def _bad_slots(n, d):
    return npy(np.zeros(5, 'float32')) if n == 'optimizer/momentum.npy' else d


def _bad_rng(doc): doc['backup']['rng_state'] = {'bit_generator': 'PCG64', 'state': 'nonsense'}


BACKUP_MISMATCHES = {
    'architecture': (dict(hidden=5), None, "layer 'dense' weight 'kernel' has shape (3, 5) in the model, but the file has shape (3, 4)"),
    'optimizer': (dict(optimizer='rmsprop'), None, 'it was trained with Adam, the model is compiled with RMSprop'),
    'slot_size': ({}, _bad_slots, "'optimizer/momentum.npy' has shape (5,)"),
    'rng_state': ({}, edit_json('seqlearn.json', _bad_rng), 'random-generator state is not a valid PCG64 state'),
}


@pytest.mark.parametrize('case', list(BACKUP_MISMATCHES))
def test_backup_that_does_not_fit_changes_nothing(tmp_path, case):
    kw, change, message = BACKUP_MISMATCHES[case]
    src = trained()
    src.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    save_backup(src, tmp_path / 'b.seqlearn', 2)
    path = tmp_path / 'b.seqlearn'
    if change is not None: rewrite(tmp_path / 'b.seqlearn', tmp_path / 'c.seqlearn', change); path = tmp_path / 'c.seqlearn'
    m = trained(**kw)  # a model mid-training: weights, optimizer steps and slots of its own
    before = _state(m)
    with pytest.raises(ModelFileError) as e: restore_backup(m, path)
    assert message in str(e.value) and str(path) in str(e.value), str(e.value)
    _same_state(before, _state(m))


def test_backup_from_other_model_stops_fit_before_training(tmp_path):
    src = trained(); save_backup(src, tmp_path / 'latest.seqlearn', 1)
    m = trained(hidden=5); before = _state(m)
    with pytest.raises(ModelFileError, match="written by a different model than 'sequential'.*Delete the backup"):
        m.fit(X, Y, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    _same_state(before, _state(m))


# ---------------------------------------------------------------------------------------------------------------------
# 2. File modes
# ---------------------------------------------------------------------------------------------------------------------

@posix_only
@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o077, 0o600)])
@pytest.mark.parametrize('how', ['save', 'save_weights'])
def test_new_file_gets_the_mode_open_would_give(tmp_path, umask, mode, how):
    m = trained()
    old = os.umask(umask)
    try:
        getattr(m, how)(tmp_path / 'm.seqlearn')
        with open(tmp_path / 'plain', 'w'): pass
    finally: os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'm.seqlearn').st_mode) == mode == stat.S_IMODE(os.stat(tmp_path / 'plain').st_mode)


@posix_only
@pytest.mark.parametrize('mode', [0o644, 0o640])
@pytest.mark.parametrize('how', ['save', 'save_weights'])
def test_overwritten_file_keeps_its_mode(tmp_path, mode, how):
    m = trained(); p = tmp_path / 'm.seqlearn'
    p.write_bytes(b'old'); os.chmod(p, mode)
    old = os.umask(0o077)  # a mode from the umask would be 0o600
    try: getattr(m, how)(p)
    finally: os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == mode


# ---------------------------------------------------------------------------------------------------------------------
# 3. Temporary files and missing folders
# ---------------------------------------------------------------------------------------------------------------------

def _dead_pid():
    p = subprocess.Popen([sys.executable, '-c', 'pass']); p.wait()
    return p.pid


def test_temporaries_of_killed_saves_are_removed(tmp_path):
    m = trained()
    long_ago = time.time() - 3600
    stale = ['.m.seqlearn.k3j_x9q2.tmp',                  # older seqlearn (mkstemp)
             f'.m.seqlearn.{_dead_pid()}-0123abcd.tmp']   # its process has ended
    kept = [f'.m.seqlearn.{os.getpid()}-0123abcd.tmp',    # a save of this process (which cleans up after itself)
            f'.m.seqlearn.{os.getppid()}-89abcdef.tmp',   # a process that runs: its save may still finish
            '.other.seqlearn.k3j_x9q2.tmp',               # another target's
            '.m.seqlearn.x.k3j_x9q2.tmp']                 # 'm.seqlearn.x's
    for name in stale + kept:
        (tmp_path / name).write_bytes(b'half a file'); os.utime(tmp_path / name, (long_ago, long_ago))
    fresh = '.m.seqlearn.abcdefgh.tmp'  # written after this process started: may belong to a save running now
    (tmp_path / fresh).write_bytes(b'x')
    m.save(tmp_path / 'm.seqlearn')
    assert sorted(os.listdir(tmp_path)) == sorted(kept + [fresh, 'm.seqlearn'])
    assert load_model(tmp_path / 'm.seqlearn').count_params() == m.count_params()


@pytest.mark.parametrize('how', ['save', 'save_weights'])
def test_missing_folder_is_named(tmp_path, how, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as e: getattr(trained(), how)('x/y/m.seqlearn')
    assert str(e.value) == "Cannot save to 'x/y/m.seqlearn': the folder 'x/y' does not exist. Create it first (os.makedirs('x/y'))."
    assert os.listdir(tmp_path) == []
    (tmp_path / 'f').write_text('a file')
    with pytest.raises(NotADirectoryError, match="'f' is a file, not a folder"): getattr(trained(), how)('f/m.seqlearn')


# ---------------------------------------------------------------------------------------------------------------------
# 4. Damaged and hostile files
# ---------------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    "A small compiled and trained model, and the bytes of its backup (a full model file that restore_backup reads too)."
    m = trained()
    p = tmp_path_factory.mktemp('orig') / 'm.seqlearn'
    save_backup(m, p, 1)
    return m, p.read_bytes()


def _outcome(path, what, original, victim=None):
    """'ok' (loaded, and what it loaded is the original) or 'error' (a ModelFileError naming the file, and for a backup the
    model it was restored into unchanged); anything else fails."""
    before = _state(victim) if victim is not None else None
    try:
        if what == 'backup':
            restore_backup(victim, path); m = victim
        elif what == 'model':
            m = load_model(path)
            opt, ref = m.optimizer, original.optimizer
            assert opt.iterations == ref.iterations and opt.slots.keys() == ref.slots.keys()
            assert all(np.array_equal(opt.slots[k], ref.slots[k]) for k in ref.slots)
        else:
            m = build(); m.load_weights(path)
        for a, b in zip(original.get_weights(), m.get_weights()): assert np.array_equal(a, b)
        return 'ok'
    except ModelFileError as e:
        assert str(path) in str(e), str(e)
        if victim is not None: _same_state(before, _state(victim))
        return 'error'


def test_every_flipped_byte_is_caught(tmp_path, saved):
    original, raw = saved
    p, seen, victim = tmp_path / 'f.seqlearn', {'ok': 0, 'error': 0}, trained(hidden=4)
    for i in range(len(raw)):
        p.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1:])
        for what in ('model', 'weights', 'backup'): seen[_outcome(p, what, original, victim if what == 'backup' else None)] += 1
    assert seen['error'] > len(raw)  # most flips are damage; the rest hit zip fields that do not matter


def test_every_truncation_is_caught(tmp_path, saved):
    original, raw = saved
    p, victim = tmp_path / 't.seqlearn', trained()
    for n in range(len(raw)):
        p.write_bytes(raw[:n])
        for what in ('model', 'weights'): assert _outcome(p, what, original) == 'error', n
        if n % 7 == 0: assert _outcome(p, 'backup', original, victim) == 'error', n


HOSTILE = [None, -1, 'x', [], {}, True, 1.5, float('nan'), 2**40, [[[[]]]], {'class_name': 'x', 'config': 1}]


def _json_paths(o, pre=()):
    yield pre
    items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else []
    for k, v in items: yield from _json_paths(v, pre + (k,))


def _set_at(doc, path, value):
    doc = json.loads(json.dumps(doc))
    if not path: return value
    t = doc
    for k in path[:-1]: t = t[k]
    t[path[-1]] = value
    return doc


def test_hostile_json_values_give_model_file_errors(tmp_path):
    "Every value in every JSON member replaced by something hostile (CRCs valid): it loads, or it is a ModelFileError."
    src = trained(); save_backup(src, tmp_path / 'b.seqlearn', 1)
    with zipfile.ZipFile(tmp_path / 'b.seqlearn') as z: members = {n: z.read(n) for n in z.namelist()}
    p, count = tmp_path / 'h.seqlearn', 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for name in ('seqlearn.json', 'config.json', 'compile.json'):
            doc = json.loads(members[name])
            for path in list(_json_paths(doc)):
                for value in HOSTILE:
                    with zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED) as z:
                        for n, d in members.items(): z.writestr(n, json.dumps(_set_at(doc, path, value)) if n == name else d)
                    for load in (load_model, lambda q: build().load_weights(q)):
                        try: load(p)
                        except ModelFileError as e: assert str(p) in str(e)
                    victim = trained(); before = _state(victim)
                    try: restore_backup(victim, p)
                    except ModelFileError as e: assert str(p) in str(e); _same_state(before, _state(victim))
                    count += 1
    assert count > 500


@pytest.mark.parametrize('member, change, message', [
    ('seqlearn.json', lambda d: d['weights'][0].__delitem__('shape'), "weight entry 0: its shape None is not a shape"),
    ('seqlearn.json', lambda d: d['weights'][1].__setitem__('shape', [-4]), 'weight entry 1: its shape [-4] is not a shape'),
    ('seqlearn.json', lambda d: d['weights'][0].__setitem__('dtype', 'object'), "its dtype 'object' is not a numeric type"),
    ('seqlearn.json', lambda d: d['weights'][0].__setitem__('shape', [2**20, 2**20]), 'more than the 2,147,483,648 a file may hold'),
    ('seqlearn.json', lambda d: d.__setitem__('weights', 'all'), "'weights' should be a list"),
    ('config.json', lambda d: ['x'] * 3, 'its config.json is malformed (expected a dict, got list)'),
    ('config.json', lambda d: d['config']['layers'][1]['config'].__setitem__('units', 'four'), 'its architecture cannot be rebuilt'),
    ('config.json', lambda d: d['config']['layers'][1].__setitem__('class_name', ['Dense']), 'its architecture cannot be rebuilt'),
    ('config.json', lambda d: d['config']['layers'][1]['config'].__setitem__('use_bias', False), 'its weights do not fit the architecture it describes'),
    ('compile.json', lambda d: d['optimizer_state'].__setitem__('iterations', -3), "'iterations' should be a whole number >= 0"),
    ('compile.json', lambda d: d['optimizer_state'].__setitem__('layout', [['dense/kernel', 'twelve', 0]]), "'layout' should be a list"),
    ('compile.json', lambda d: d['optimizer'].__setitem__('config', {'learning_rate': 'fast'}), 'its compile settings cannot be restored'),
    ('compile.json', lambda d: d.__setitem__('loss', {'function': ['mse']}), 'its compile settings cannot be restored'),
])
def test_hostile_json_is_named(tmp_path, saved, member, change, message):
    (tmp_path / 'm.seqlearn').write_bytes(saved[1])
    rewrite(tmp_path / 'm.seqlearn', tmp_path / 'bad.seqlearn', edit_json(member, change))
    with pytest.raises(ModelFileError) as e: load_model(tmp_path / 'bad.seqlearn')
    assert message in str(e.value) and str(tmp_path / 'bad.seqlearn') in str(e.value), str(e.value)


def test_deeply_nested_json_is_a_model_file_error(tmp_path, saved):
    (tmp_path / 'm.seqlearn').write_bytes(saved[1])
    for depth in (900, 100_000):  # within json's limit (our code recurses deeper), and beyond it
        deep = '{"class_name": "Sequential", "config": ' * depth + '{}' + '}' * depth
        rewrite(tmp_path / 'm.seqlearn', tmp_path / 'deep.seqlearn', lambda n, d: deep if n == 'config.json' else d)
        with pytest.raises(ModelFileError, match='deep.seqlearn'): load_model(tmp_path / 'deep.seqlearn')


def test_npy_member_with_object_or_wrong_header(tmp_path, saved):
    (tmp_path / 'm.seqlearn').write_bytes(saved[1])
    header = npy(np.zeros((3, 4), 'float32'))
    cases = {'weights/0000.npy': b'\x93NUMPY\x03\x00' + header[8:], 'optimizer/momentum.npy': npy(np.zeros(26, 'complex64'))}
    for member, data in cases.items():
        rewrite(tmp_path / 'm.seqlearn', tmp_path / 'bad.seqlearn', lambda n, d: data if n == member else d)
        with pytest.raises(ModelFileError, match=f"'{member}'"): load_model(tmp_path / 'bad.seqlearn')


# ---------------------------------------------------------------------------------------------------------------------
# 5. Bounded sizes
# ---------------------------------------------------------------------------------------------------------------------

def test_padded_member_is_refused_without_reading_it(tmp_path, saved):
    (tmp_path / 'm.seqlearn').write_bytes(saved[1])
    padded = npy(saved[0].get_weights()[0]) + bytes(50 * 2**20)  # its header declares (3, 4) float32: 48 bytes of data
    rewrite(tmp_path / 'm.seqlearn', tmp_path / 'pad.seqlearn', lambda n, d: padded if n == 'weights/0000.npy' else d)
    del padded
    assert os.path.getsize(tmp_path / 'pad.seqlearn') < 2**20
    for load in (load_model, lambda q: build().load_weights(q)):
        tracemalloc.start()
        try:
            with pytest.raises(ModelFileError, match=r"'weights/0000.npy' holds 52,428,\d+ bytes, but its header declares a \(3, 4\) float32"):
                load(tmp_path / 'pad.seqlearn')
            peak = tracemalloc.get_traced_memory()[1]
        finally: tracemalloc.stop()
        assert peak < 5 * 2**20, peak


def test_declared_sizes_are_bounded(tmp_path, saved, monkeypatch):
    (tmp_path / 'm.seqlearn').write_bytes(saved[1])
    header = np.lib.format.header_data_from_array_1_0(np.zeros((3, 4), 'float32'))
    header['shape'] = (2**31 + 1,)
    b = io.BytesIO(); np.lib.format.write_array_header_1_0(b, header)
    rewrite(tmp_path / 'm.seqlearn', tmp_path / 'big.seqlearn', lambda n, d: b.getvalue() if n == 'weights/0000.npy' else d)
    with pytest.raises(ModelFileError, match="'weights/0000.npy' holds .*2,147,483,649 values, more than the 2,147,483,648"):
        load_model(tmp_path / 'big.seqlearn')
    monkeypatch.setattr(sm, 'MAX_JSON_BYTES', 100)  # a JSON member is refused by its declared size, unread
    with pytest.raises(ModelFileError, match=r"'seqlearn.json' declares \d+ bytes, more than the 100 it may have"):
        load_model(tmp_path / 'm.seqlearn')


# ---------------------------------------------------------------------------------------------------------------------
# 6. ModelCheckpoint
# ---------------------------------------------------------------------------------------------------------------------

def test_checkpoint_creates_its_folder(tmp_path):
    m = trained()
    m.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / 'a' / 'b' / 'e{epoch}.seqlearn'))])
    assert sorted(p.name for p in (tmp_path / 'a' / 'b').iterdir()) == ['e1.seqlearn', 'e2.seqlearn']


def test_checkpoint_every_n_batches_counts_across_epochs(tmp_path):
    m = trained()  # 5 batches an epoch, 5 optimizer steps done
    ck = ModelCheckpoint(str(tmp_path / 'ck' / 'e{epoch}-b{batch}.seqlearn'), save_freq=3)
    m.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[ck])
    names = sorted(p.name for p in (tmp_path / 'ck').iterdir())
    assert names == ['e1-b3.seqlearn', 'e2-b1.seqlearn', 'e2-b4.seqlearn', 'e3-b2.seqlearn', 'e3-b5.seqlearn']
    steps = {n: load_model(tmp_path / 'ck' / n).optimizer.iterations for n in names}
    assert steps == {'e1-b3.seqlearn': 8, 'e2-b1.seqlearn': 11, 'e2-b4.seqlearn': 14, 'e3-b2.seqlearn': 17, 'e3-b5.seqlearn': 20}
    for a, b in zip(m.get_weights(), load_model(tmp_path / 'ck' / 'e3-b5.seqlearn').get_weights()): assert np.array_equal(a, b)


@pytest.mark.parametrize('bad', ['batch', 0, -2, 2.5, True, None])
def test_checkpoint_refuses_other_save_freq(bad):
    with pytest.raises(ValueError, match=r"save_freq must be 'epoch' \(save after each epoch\) or a whole number of batches >= 1"):
        ModelCheckpoint('m.seqlearn', save_freq=bad)


def test_checkpoint_batch_name_needs_integer_save_freq(tmp_path):
    with pytest.raises(KeyError, match=r"refers to 'batch'.*only with an integer save_freq"):
        trained().fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / 'b{batch}.seqlearn'))])
