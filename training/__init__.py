"""Training steps: synthetic corpus, splits, base model, LoRA fine-tuning, quick predictions.

Each step is a plain function plus a small `main()` (`python -m training.<module>`) that
reads params.yaml; DVC stages and Dagster assets both call the same function. Nothing
here imports Dagster.
"""
