"""RViT as transformers classes."""
