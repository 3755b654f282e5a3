"""The models: CLSM (clsm.py), its baselines VAE (vae.py) and Anticipation-RNN (arnn.py), and the
evaluation language model (lm.py), with their configs (config.py) and shared layers (layers.py).

This package imports only torch, numpy, ``clsm_cli.constants``, ``clsm_cli.errors`` and the token
sampling rule both inference engines share (``clsm_cli.sampling``); importing
the package itself imports nothing (``config`` is torch-free, the rest import torch).
Build a model with ``registry.build_model(preset_config(kind, preset))``.
"""
