"""The bundled GPT: model, tokenizer, checkpoints, inference engine and trainer.

Import the submodules directly: this package imports nothing itself, so `import
llmkit.mini` stays free of torch. Public: `config` (GPTConfig, no torch), `model` (GPT,
KVCache), `tokenizer` (MiniTokenizer, train_tokenizer), `checkpoint` (save/load),
`engine` (MiniEngine), `train` and `train_config` (train, Trainer, TrainConfig).
Internal: `corpus`, `data`, `distributed`, `trainlog`, `sampling`, `healing`,
`attention_maps`, `evaluate`, `stdlib_corpus`.
"""

__all__: list[str] = []
