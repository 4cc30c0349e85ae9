"""The checkpoint toolbox: ``python -m weights_tools <command> --help``.

``synth`` (random checkpoints of any config, either layout), ``inspect``, ``verify``,
``convert`` (original <-> Hugging Face, ``--dequantize``), ``bundle`` (classroom folder for
``$GPTOSS_EDU_BUNDLE``) and ``download`` (the real weights from the Hub). The library side
(layouts, reading, checking, ``load_model``) lives in ``gptoss_edu.io.checkpoint``.
"""
