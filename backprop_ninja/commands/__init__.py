"""The subcommands of `backprop-ninja`, one module each."""
