"""The audit pack's format and its standalone verifier (textvote_verify.py, which the pack
carries so an auditor needs nothing else)."""
