"""The data command lines, one module per command, each with `main(argv) -> exit status`.

Installed as console commands (pyproject.toml, `[project.scripts]`) and run from a checkout by the thin
`scripts/*.py` of the same names: `ahu-make-sample-archive`, `ahu-scan`, `ahu-preprocess`, `ahu-export`,
`ahu-preview`.
"""
