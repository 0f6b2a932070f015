"""模型选择: presets of standard transformers architectures, tokenizer training, loading, generation."""
