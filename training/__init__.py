"""ISIC 2017 data, the multi-task network, training and evaluation."""
