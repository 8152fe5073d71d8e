"""Built-in hardware profiles shipped with localeval (YAML files in this folder)."""
