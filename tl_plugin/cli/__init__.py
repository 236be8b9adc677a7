"""Command-line tools: ``tl-prepare``, ``tl-eval``, ``tl-inspect``, ``tl-evolve``, the CPU smoke runs of
verl's trainers (``python -m tl_plugin.cli.smoke``) and the helpers that launch verl's SFT trainer.

Each CLI is a Hydra app over a YAML file in ``tl_plugin/configs`` and reads top to bottom.
"""
