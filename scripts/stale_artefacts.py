"""List every committed figure, table, profile and notebook that does not show the shipped pair.

    python scripts/stale_artefacts.py     # exit status 1 when something is stale

What counts as stale: duolab.artefacts.stale_artefacts (no producer recorded in data/artefacts.json,
made by another pair, edited since it was recorded, made in quick mode, or a notebook committed
without a full run's outputs). tests/test_artefacts.py fails on the same list.
"""

from duolab.artefacts import main

if __name__ == "__main__":
    main()
