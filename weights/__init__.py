"""Shipped models, one folder each: model.safetensors, config.json, CARD.md."""
