"""What verl loads: the ``verl.plugins`` entry point (:mod:`.register`), the ``tl_tool`` reward
manager, the agent loops, the SFT dataset with MAE and PKT, executable tools, the ``tl_hf`` rollout,
CPU support and the few patches to verl internals (:mod:`.patches`).

Modules here may import verl; nothing here is imported by ``reward_fns`` or ``data_transforms``.
"""
