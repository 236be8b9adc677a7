"""``python -m tl_plugin.demo`` (what ``bash scripts/demo.sh`` runs): see :mod:`tl_plugin.demo.pipeline`."""

from tl_plugin.demo.pipeline import main

if __name__ == "__main__":
    main()
