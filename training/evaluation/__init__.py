"""Fit heads and evaluate encoders on IQA datasets with the paper's protocol."""
