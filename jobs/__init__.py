"""ferry's Click commands: thin wrappers that parse options, call one library function, and exit."""
