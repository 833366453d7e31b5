"""The grid runner: YAML search spaces -> Ray Tune (+ Optuna) trials -> MLflow runs. The only package that knows
about Ray, Optuna and MLflow; a trial is one call into flexcoder."""
