"""The bundled GPT: model, tokenizer, checkpoints, inference engine and trainer.

Import the submodules (`llmkit.mini.engine`, `llmkit.mini.train`, ...) directly: this
package imports nothing itself, so `import llmkit.mini` stays free of torch.
"""
