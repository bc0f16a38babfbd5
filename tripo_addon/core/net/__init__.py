"""Talking to the Pixazo gateway: the client, its answers, downloads, deadlines, addresses, the key and the rate limit."""
