"""``tl-eval``'s parts: benchmark samples, per-sample scoring, reports and comparisons.

The command itself is :mod:`tl_plugin.cli.evaluate`; the generation backends it can call are in
:mod:`tl_plugin.generation`.
"""
