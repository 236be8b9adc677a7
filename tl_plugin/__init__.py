"""tl-plugin's verl layer, one folder per role:

- ``verl_ext/``: what verl loads (the ``verl.plugins`` entry point, reward manager, agent loops, SFT
  dataset with MAE and PKT, executable tools, the ``tl_hf`` rollout, CPU support, patches);
- ``cli/``: ``tl-prepare``, ``tl-eval``, ``tl-inspect``, ``tl-evolve``, smoke runs, launch helpers;
- ``generation/`` and ``evaluation/``: text-generation backends and benchmark scoring for the CLIs;
- ``demo/``: the CPU demo, the ablation grid, the reward walkthrough and the SmolLM2 export;
- ``configs/`` (Hydra YAML, ``pkg://tl_plugin.configs``) and ``data/`` (chat templates, samples);
- ``testing``: tiny real parts (tokenizer, model) for tests and CPU smoke runs.

The pure layers it builds on, ``reward_fns`` and ``data_transforms``, never import it.
"""
