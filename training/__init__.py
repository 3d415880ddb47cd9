"""contrique_training: train the CONTRIQUE contrastive encoder (needs the train extra)."""
