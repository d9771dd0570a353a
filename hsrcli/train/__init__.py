"""Training: checkpoints (shared with inference), losses, distillation and the training loop."""
