"""One class per capability, shared by nodes, CLI, benchmarks and tests."""
