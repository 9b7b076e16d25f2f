"""SimSiam RGB-D pre-training (seed 000): crops, augmentation, the task and the linear probe."""
