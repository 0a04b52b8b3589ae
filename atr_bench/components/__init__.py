"""The built-in plugins: poolings, audio extractors, text encoders, datasets and protocols, each
registered through the same hooks a third-party plugin uses."""
