"""Built-in recipes shipped with localeval (YAML files in this folder)."""
