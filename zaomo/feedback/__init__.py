"""反馈迭代: users' ratings and corrections become the next version's training data."""
