"""The user's own S3-compatible bucket: its settings, the SigV4 signer, the client, and how a local image reaches the gateway."""
