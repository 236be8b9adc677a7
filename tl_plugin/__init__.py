"""verl glue for tool-use training: registration, Hydra configs, and (later) datasets and CLIs."""
