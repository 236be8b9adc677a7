"""The CPU demo and what only it uses, apart from the library: the whole method on a real small model
(:mod:`.pipeline`, ``python -m tl_plugin.demo``), TL-Training's MAE/PKT ablation grid
(:mod:`.ablation`), the reward walkthrough (:mod:`.reward_demo`) and SmolLM2-135M-Instruct from PyPI
(:mod:`.smollm2`).
"""
