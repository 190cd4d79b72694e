"""Evaluation: suites are YAML data, scorers are pure functions, runners generate text.

Nothing here imports Dagster; assets/ wraps `evals.run.run_suite`, and dvc.yaml calls
`python -m evals.run`.
"""
