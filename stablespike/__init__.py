"""The ``stablespike`` command line (:mod:`stablespike.main`); ``python -m stablespike``."""
