"""Shared test configuration: the `slow` marker, and no silent skips in CI.

- Browser, kernel and docs-build tests are marked `slow` (they take minutes): `pytest -m "not slow"` is the quick loop.
- A test that skips because something is missing (Chromium, a docs dependency) would hide a broken setup, so when
  the `CI` environment variable is set, a skip is reported as a failure that names what is missing.
"""
import os
import pytest

SLOW_MODULES = {'test_browser_widgets', 'test_docs', 'test_static_export'}


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: real browser, Jupyter kernel or docs build (minutes); deselect with -m "not slow"')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit('.', 1)[-1] in SLOW_MODULES: item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get('CI') and rep.skipped and not hasattr(rep, 'wasxfail'):
        reason = rep.longrepr[-1] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome, rep.longrepr = 'failed', f"skipped in CI, where everything must run: {reason}"
