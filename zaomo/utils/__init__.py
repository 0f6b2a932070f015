"""Small helpers every layer may use: atomic files, JSONL, hashing, logging, environment facts."""
