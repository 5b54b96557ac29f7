"""What the web side and the model workers share, and nothing of either: the demo kinds,
input validation, the Redis event streams and heartbeats, the model registry, the one
enqueue gateway, the error vocabulary and the stored examples. No torch, no views."""
