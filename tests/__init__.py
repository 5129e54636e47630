"""Test packages live under ``tests.`` so none can shadow a package of ours (``streams``...)."""
