"""Models whose weights are in this process: loading, batching, the scheduler, and each operation's code."""
