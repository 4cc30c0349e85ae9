"""Files in and out: checkpoints in both layouts and the tokenizer's vocabulary.

- ``safetensors_io``: a validating, streaming reader of ``.safetensors`` headers and tensors.
- ``layouts``: the tensor names, shapes and dtypes of OpenAI's ``original/`` and Hugging Face's layouts.
- ``checkpoint``: finding, checking and loading a checkpoint folder into a ``Transformer``.
- ``writer``: writing a checkpoint folder in either layout, chunk by chunk, from any source of tensors.
- ``hf_config``: a ``ModelConfig`` as Hugging Face's ``config.json``.
- ``vocab``: locating and checking the o200k vocabulary file, online or offline.
"""
