"""vertex-launcher."""
