"""The official implementations our code is checked against.

- ``reference``: OpenAI's ``gpt_oss.torch`` from the ``gpt-oss==0.0.9`` wheel, fetched once into a cache.
- ``transformers_compat``: building Hugging Face's ``GptOssForCausalLM`` from our config and weights.
"""
