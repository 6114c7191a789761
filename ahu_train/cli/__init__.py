"""The training command lines, one module per command: `run(argv)` returns the result, `main(argv)` the exit status.

Installed as console commands (pyproject.toml, `[project.scripts]`) and run from a checkout by the thin
`scripts/*.py` of the same names: `ahu-train`, `ahu-pretrain`, `ahu-evaluate`, `ahu-demo`.
"""
