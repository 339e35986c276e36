#!/usr/bin/env bash
# Every test seqlearn has, in the order a failure is cheapest to read:
#   1. the notebooks and the exported package agree (nbdev_export leaves no diff in seqlearn/)
#   2. notebooks are clean (nbdev_clean leaves no diff) and README.md matches index.ipynb
#   3. every notebook runs top to bottom with its tests (nbdev_test; `#| slow` cells skipped)
#   4. pytest tests/
# Usage: bash tools/test_all.sh   (after: pip install -e ".[dev,interop]")
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n=== %s\n' "$*"; }
in_git=0; git rev-parse --is-inside-work-tree >/dev/null 2>&1 && in_git=1

if [ $in_git = 1 ]; then
  step "nbdev_export: notebooks and package agree"
  nbdev_export
  if [ -n "$(git diff --name-only -- seqlearn)$(git ls-files --others --exclude-standard -- seqlearn)" ]; then
    echo "FAIL: nbdev_export changed seqlearn/: the package was edited by hand or not exported. Edit the notebooks, run nbdev_export, commit both."
    git --no-pager diff --stat -- seqlearn; git status --short -- seqlearn; exit 1
  fi
  step "nbdev_clean: notebooks are clean"
  nbdev_clean >/dev/null; nbdev_clean --fname index.ipynb >/dev/null
  if [ -n "$(git diff --name-only -- nbs index.ipynb)" ]; then
    echo "FAIL: nbdev_clean changed notebooks: run nbdev_clean and commit."; git status --short -- nbs index.ipynb; exit 1
  fi
  step "README.md matches index.ipynb"
  python tools/make_readme.py --check
fi

step "nbdev_test: every notebook runs with its tests"
nbdev_test --n_workers 2 --do_print
nbdev_test --path index.ipynb --do_print

step "pytest tests/"
python -m pytest tests -q
