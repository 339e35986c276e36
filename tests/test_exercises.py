"""seqlearn.exercises: every check answers right answers with ✓ and wrong ones with a hint (never a traceback); and the
lessons use it: each ends with 2-4 exercises whose folded solutions are the code a hidden cell runs through the checks."""
import json, pathlib, re
import numpy as np
import pytest
from seqlearn import Sequential, Model, Input, Dense, Conv1D, Flatten, set_seed, clear_session
from seqlearn.exercises import (Exercise, Check, Verdict, check, describe, layer_types, units, activations, input_shape,
                                output_shape, n_inputs, n_outputs, params, like, compiled, history_keys, epochs, score,
                                close_to, equals, satisfies)

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted(p for p in (ROOT / 'nbs' / 'tutorials').glob('[0-9][0-9]_*.ipynb') if int(p.name[:2]) >= 1)   # 00: the index
COURSE = [p for p in LESSONS if 1 <= int(p.name[:2]) <= 10 or int(p.name[:2]) >= 12]   # the lessons whose exercises check themselves


@pytest.fixture
def seed_model():
    set_seed(0); clear_session()
    return Sequential([Dense(32, activation='relu', input_shape=(10,)), Dense(16, activation='relu'), Dense(1, activation='sigmoid')])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10)).astype('float32')
    return x, (x[:, 0] > 0).astype('float32')


def wide(): return Sequential([Dense(32, activation='relu', input_shape=(10,)), Dense(32, activation='relu'), Dense(1, activation='sigmoid')])


# ---- the verdict line ---------------------------------------------------------------------------------------------
def test_right_wrong_and_not_attempted_lines(seed_model, capsys):
    ex = Exercise("Exercise 1", units([32, 16, 1]), params(897))
    right, wrong, empty = ex.check(seed_model), ex.check(wide()), ex.check(None)
    assert right and not wrong and not empty
    assert isinstance(right, Verdict) and repr(right) == 'True' and repr(wrong) == 'False'
    out = capsys.readouterr().out.splitlines()
    assert out == [right.message, wrong.message, empty.message]
    assert right.message == "✓ Exercise 1: correct!"
    assert wrong.message.startswith("✗ Exercise 1: layer 2 (") and wrong.message.endswith("has 32 units; the task asks for 16.")
    assert empty.message == "○ Exercise 1: not attempted yet: replace None with your answer and run the cell again."
    assert empty.ok is None and not ex.check(...) and not ex.check((None, None))


def test_first_problem_wins_and_hints_are_added(seed_model):
    ex = Exercise("E", n_outputs(1), units([32, 16, 1], hint="halve the second layer"), activations(['relu', 'relu', 'relu']),
                  hint="lesson 3 builds it")
    msg = ex.check(wide()).message                      # units fail first; that check's own hint
    assert msg.endswith("the task asks for 16. Hint: halve the second layer.")
    msg = ex.check(seed_model).message                  # activations fail; no check hint, so the exercise's
    assert "uses activation 'sigmoid'; the task asks for 'relu'. Hint: lesson 3 builds it." in msg


def test_check_one_off_with_a_model_or_a_value(seed_model):
    assert check(seed_model, seed_model)
    assert "has 32 units; the task asks for 16" in check(wide(), seed_model).message
    assert check(897.0, 897) and not check(896, 897)
    assert check([13, 13, 8], (13, 13, 8), title='Shape').message == "✓ Shape: correct!"


# ---- model checks: right and wrong --------------------------------------------------------------------------------
def test_layer_checks(seed_model):
    assert layer_types(['Dense', Dense, None])(seed_model) == (True, '')
    ok, msg = layer_types(['Dense', 'Conv1D', 'Dense'])(seed_model)
    assert not ok and "is a Dense; the task asks for a Conv1D" in msg
    assert "your model has 3 layers (Dense, Dense, Dense); the task asks for 2" in units([32, 1])(seed_model)[1]
    assert activations(['relu', None, 'sigmoid'])(seed_model) == (True, '')
    conv = Sequential([Input((40, 1)), Conv1D(8, 3), Flatten(), Dense(2)])
    assert "has 8 filters; the task asks for 4" in units([4, None, 2])(conv)[1]
    assert "is a Flatten, which has no activation" in activations([None, 'relu', None])(conv)[1]


def test_shape_and_size_checks(seed_model):
    assert input_shape((10,))(seed_model)[0] and input_shape((None, 10))(seed_model)[0] and output_shape((1,))(seed_model)[0]
    assert input_shape((12,))(seed_model)[1] == "your model takes inputs of shape (None, 10); the task asks for (None, 12)."
    assert output_shape((3,))(seed_model)[1] == "your model's output shape is (None, 1); the task asks for (None, 3)."
    assert params(897)(seed_model) == (True, '')
    assert "your model has 1,441 parameters (per layer: 352, 1,056, 33); the task's model has 897" in params(897)(wide())[1]
    x = Input((4,)); h = Dense(3)(x)
    two = Model(x, [Dense(1)(h), Dense(2)(h)])
    assert n_outputs(1)(two)[1] == "your model has 2 outputs; the task needs 1."
    assert n_inputs(1)(two)[0] and output_shape([(1,), (2,)])(two)[0]


def test_like_compares_the_architecture(seed_model):
    assert like(seed_model)(seed_model) == (True, '')
    assert like(seed_model)(wide())[1].endswith("has 32 units; the task asks for 16.")
    narrow_in = Sequential([Dense(32, activation='relu', input_shape=(8,)), Dense(16, activation='relu'), Dense(1, activation='sigmoid')])
    assert "takes inputs of shape (None, 8); the task's takes (None, 10)" in like(seed_model)(narrow_in)[1]
    tanh = Sequential([Dense(32, activation='tanh', input_shape=(10,)), Dense(16, activation='relu'), Dense(1, activation='sigmoid')])
    assert "activation 'tanh'; the task asks for activation 'relu'" in like(seed_model)(tanh)[1]


def test_compiled(seed_model):
    assert "not compiled yet" in compiled(loss='mse')(seed_model)[1]
    seed_model.compile(optimizer='sgd', loss='mse')
    assert compiled(loss='mean_squared_error', optimizer='sgd', learning_rate=0.01)(seed_model) == (True, '')
    assert "compiled with the SGD optimizer; the task asks for Adam" in compiled(optimizer='adam')(seed_model)[1]
    assert "the learning rate is 0.01; the task asks for 0.1" in compiled(learning_rate=0.1)(seed_model)[1]
    assert "the loss 'mean_squared_error'; the task asks for 'binary_crossentropy'" in compiled(loss='binary_crossentropy')(seed_model)[1]


# ---- after training ------------------------------------------------------------------------------------------------
def test_history_and_score(seed_model, data):
    x, y = data
    seed_model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    h = seed_model.fit(x, y, epochs=3, validation_split=0.25, verbose=0)
    assert history_keys(['loss', 'accuracy', 'val_loss', 'val_accuracy'])(h) == (True, '')
    assert history_keys(['loss', 'accuracy', 'val_loss', 'val_accuracy'])(h.history)[0]
    no_val = seed_model.fit(x, y, epochs=1, verbose=0)
    assert "the val_ keys come from validation_data=(x, y) or validation_split" in history_keys(['loss', 'val_loss'])(no_val)[1]
    assert epochs(3)(h)[0] and epochs(20)(h)[1] == "your model trained for 3 epochs; the task asks for 20."
    assert "needs the History that fit returns" in epochs(3)(seed_model)[1]
    assert score('accuracy', at_least=0.9)(0.71)[1] == ("accuracy 0.71 is below the 0.90 this exercise asks for: "
                                                        "train longer or check the learning rate.")
    assert score('loss', at_most=0.1, advice="train 40 epochs")(0.35)[1] == "loss 0.35 is above the 0.10 this exercise allows: train 40 epochs."
    ok, note = score('val_accuracy', at_least=0.0)(h)
    assert ok and note.startswith('val_accuracy ')
    assert "compile with metrics=['mae']" in score('val_mae', at_most=1)(h)[1]
    acc = float(((seed_model.predict(x, verbose=0)[:, 0] > 0.5) == (y > 0.5)).mean())
    assert score('accuracy', at_least=0.0, data=(x, y))(seed_model) == (True, f"accuracy {acc:.2f}")
    assert not score('accuracy', at_least=acc + 0.01, data=(x, y))(seed_model)[0]
    assert "training diverged" in score('loss', at_most=1)(float('nan'))[1]


def test_numbers_and_values():
    assert close_to(0.25, tol=0.01)(0.245) == (True, '') and close_to(0.25, tol=0.01)(0.3)[1] == "your answer 0.3 is too high."
    assert close_to(0.25, tol=0.01)(0.2)[1] == "your answer 0.2 is too low."
    assert close_to([[1.], [2.]])(np.array([[1.], [3.]]))[1] == "1 of 2 values in your answer is off (by up to 1)."
    assert close_to([1, 2])([1, 2, 3])[1] == "your answer has shape (3,); the task expects (2,)."
    assert equals((13, 13, 8))(np.array([13, 13, 8]).tolist())[0] and equals((13, 13, 8))((np.int64(13), 13, 8))[0]
    assert equals((13, 13, 8), what='the shape')((12, 13, 8))[1] == "the shape (12, 13, 8): item 1 (12) is not right."
    assert equals('relu')('tanh')[1] == "your answer 'tanh' is not right."
    assert satisfies(lambda v: v > 0, "it must be positive")(-1) == (False, "it must be positive.")
    two = Exercise("E", equals(3, what='the first', of=0), equals(4, what='the second', of=1))
    assert two.check((3, 4)) and "no answer yet for the second" in two.check((3, None)).message
    assert "wants several answers together" in two.check(3).message


def test_wrong_kinds_of_answer_get_sentences_not_tracebacks(seed_model):
    checks = [layer_types(['Dense']), units([1]), activations(['relu']), input_shape((1,)), output_shape((1,)), n_inputs(1),
              n_outputs(1), params(1), like(seed_model), compiled(loss='mse'), history_keys(['loss']), epochs(1),
              score('accuracy', at_least=0.5), close_to(1.0), equals((1,)), satisfies(lambda v: v > 0, "positive")]
    for answer in [Dense, Sequential, Dense(3), 'a model', [1, 2], {'a': 1}, np.zeros((2, 2)), object(), Sequential([Dense(2)])]:
        for c in checks:
            ok, msg = c(answer)                     # never raises
            assert isinstance(msg, str) and (ok or msg.endswith('.')), (c, answer, msg)
    assert describe(Dense) == "the class Dense itself (create one: Dense(...))"
    assert units([16])(Dense)[1] == "your answer is the class Dense itself, not a model: build one, e.g. Sequential([...])."
    assert "not built yet" in params(3)(Sequential([Dense(2)]))[1]
    broken = Check('the thing', lambda v: v.missing_attribute)
    assert broken(1) == (False, "the thing could not be checked (AttributeError: 'int' object has no attribute 'missing_attribute').")


def test_exercise_takes_plain_values_and_functions(seed_model):
    ex = Exercise("E", seed_model)                                # a model: like()
    assert ex.check(seed_model) and not ex.check(wide())
    assert Exercise("E", 0.5).check(0.5) and not Exercise("E", 0.5).check(0.6)
    assert Exercise("E", lambda v: None if v == 'ok' else "say ok").check('no').message == "✗ E: say ok."
    assert "E: Exercise" not in repr(ex) and 'the architecture' in repr(ex)


# ---- the lessons use it --------------------------------------------------------------------------------------------
def _cells(path):
    return [(c['cell_type'], ''.join(c['source']), c.get('metadata', {})) for c in json.loads(path.read_text())['cells']]


def test_every_lesson_has_a_numbered_title_commitments_and_takeaways():
    for path in COURSE:
        cells = _cells(path)
        n = int(path.name[:2])
        assert cells[0][1].startswith(f"# {n}. "), f"{path.name}: title should start with '{n}. ': {cells[0][1][:60]!r}"
        md = '\n'.join(s for t, s, _ in cells if t == 'markdown')
        assert '**Commit to your answer:**' in md, f"{path.name}: no prediction prompt"
        assert '## Key takeaways' in md, f"{path.name}: no key takeaways"


@pytest.mark.parametrize('path', COURSE, ids=[p.stem for p in COURSE])
def test_lesson_ends_with_checked_exercises_and_tested_solutions(path):
    cells = _cells(path)
    code = [s for t, s, _ in cells if t == 'code']
    defs = [s for s in code if 'from seqlearn.exercises import' in s]
    assert len(defs) == 1 and defs[0].startswith('#| hide'), f"{path.name}: one hidden cell defines the exercises"
    names = re.findall(r'^(ex\d+) = Exercise\(', defs[0], re.M)
    assert 2 <= len(names) <= 4, f"{path.name}: {len(names)} exercises"
    for name in names:   # the student's cell: an answer still at None, then the check
        assert any(re.search(rf'= None.*\n{name}\.check\(', s) or re.search(rf'= \(None, None\).*\n{name}\.check\(', s)
                   for s in code if not s.startswith('#| hide')), f"{path.name}: no answer cell for {name}"
    hidden = [s for s in code if s.startswith('#| hide') and 'solutions pass their checks' in s]
    assert len(hidden) == 1, f"{path.name}: one hidden cell runs the solutions"
    for name in names:
        # asserts at the top level, or indented in a block that keeps the passing checks quiet (`with quietly():`)
        assert re.search(rf'^\s*assert {name}\.check\(', hidden[0], re.M), f"{path.name}: {name}'s solution is not checked"
        assert re.search(rf'^\s*assert (not |.* in ){name}\.check\(', hidden[0], re.M), f"{path.name}: {name} is not tested on a wrong answer"
    md = '\n'.join(s for t, s, _ in cells if t == 'markdown')
    solutions = md[md.index('## Solutions'):]
    blocks = re.findall(r'<details><summary>Exercise \d+</summary>\s*```python\n(.*?)```', solutions, re.S)
    assert len(blocks) == len(names), f"{path.name}: {len(blocks)} folded solutions for {len(names)} exercises"
    tested = re.sub(r'^    ', '', hidden[0], flags=re.M)   # the cell's code, out of its `with quietly():` block
    for b in blocks:
        assert b.strip() in tested or b.strip() in hidden[0], f"{path.name}: the folded solution is not the code the hidden cell tests:\n{b}"
    folded = [m for t, s, m in cells if t == 'code' and s.startswith('#| hide') and ('Exercise(' in s or 'solutions pass' in s)]
    assert all(m.get('jupyter', {}).get('source_hidden') for m in folded), f"{path.name}: exercise cells should open folded"


def test_lessons_index_lists_every_lesson_and_the_readme_index_agrees():
    index = _cells(ROOT / 'nbs' / 'tutorials' / '00_index.ipynb')
    md = '\n'.join(s for t, s, _ in index if t == 'markdown')
    home = '\n'.join(s for t, s, _ in _cells(ROOT / 'index.ipynb') if t == 'markdown')
    for path in LESSONS:
        title = _cells(path)[0][1].splitlines()[0].lstrip('# ').strip()
        bare = re.sub(r'^\d+\.\s*', '', title)
        assert f"[{bare}]({path.name})" in md, f"lessons page: no line for {path.name} ({bare})"
        assert f"[{bare}](nbs/tutorials/{path.name})" in home, f"index.ipynb: no line for {path.name} ({bare})"
