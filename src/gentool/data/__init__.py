"""Dataset sources, the decoded-image cache and augmentation."""
