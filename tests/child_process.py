"""Source for child processes that must see this project only as a saved model's remote code would."""

from __future__ import annotations

# Prepended to a child script: `hide_project(repo_root)` drops the editable-install finder and every path entry of
# the repository (the venv, which may lie inside it, is kept) and checks the project's packages are not importable.
HIDE_PROJECT = '''
import importlib.util, sys


def hide_project(repo_root):
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
    sys.path[:] = [
        p for p in sys.path
        if "__editable__" not in p
        and (not p.startswith(repo_root) or "site-packages" in p or p.startswith(sys.prefix))
    ]
    for name in ("modeling_rvit", "ahu_train", "hf_loader"):
        assert importlib.util.find_spec(name) is None, f"{name} is importable in the child"
'''
