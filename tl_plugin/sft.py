"""``pkg://tl_plugin.sft``: the path users give verl for the SFT dataset
(``data.custom_cls.path=pkg://tl_plugin.sft data.custom_cls.name=TLSFTDataset``, and the ``+tl=sft``
preset). The dataset lives in :mod:`tl_plugin.verl_ext.sft_dataset`; this name stays so that path
keeps working.
"""

from tl_plugin.verl_ext.sft_dataset import TLSFTDataset

__all__ = ["TLSFTDataset"]
