"""The plugin contract (hookspecs, the typed protocols a component implements, spec types) and the
registry that loads built-in and installed plugins."""
