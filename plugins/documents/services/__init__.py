"""The plugin's rules: ``issue`` (issuing, revoking, verifying), ``signing`` (the Ed25519
key), ``templates`` (the per-service texts), ``pdf`` (drawing) and ``limits`` (the
verification rate limit)."""
