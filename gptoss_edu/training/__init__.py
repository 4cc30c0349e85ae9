"""Training the nano gpt-oss of notebooks 07 and 07b.

- ``pretrain``: next-token training with a load-balancing loss (a teaching addition) and MXFP4-aware steps.
- ``nano``: the committed nano model, its tokenizer and training record, shipped as package data.
"""
