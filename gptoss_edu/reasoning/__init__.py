"""How a gpt-oss model is taught to reason, at laptop scale (notebook 11).

Modules, in the order the notebook uses them:

* ``tasks``: the verifiable task (sums) and the programmatic teacher that writes reasoning
  traces at low / medium / high effort, plus the calculator variant;
* ``masks``: render a conversation for training with harmony and mark the tokens the
  assistant writes (the SFT loss mask);
* ``vocab``: the compact vocabulary (the few hundred o200k_harmony ids the task uses);
* ``sft``: supervised fine-tuning on masked harmony: distillation of the teacher's traces;
* ``rollout``: generate with the KV cache, parse the harmony, measure accuracy and length;
* ``grpo``: RL with verifiable rewards, GRPO-style (group advantages, clipped PG, KL);
* ``tools``: the calculator called through the agent loop of notebook 09;
* ``student``: load the committed SFT and RL checkpoints and their training records;
* ``recipe``: the harmony text and reward for TRL + PEFT on the real 20b (the production path);
* ``figures``: the loss mask drawn over rendered tokens, curve smoothing.
"""
