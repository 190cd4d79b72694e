"""The project's defs folder (`[tool.dg.project] defs_module = "assets"`): assets, checks,
resources and partitions, loaded by `dg.load_from_defs_folder` in pipelines/definitions.py."""
