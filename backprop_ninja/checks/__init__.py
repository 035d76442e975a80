"""Checking a learner's steps against autograd: probes, comparison, verdicts, diagnoses."""
