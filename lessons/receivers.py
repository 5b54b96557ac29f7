"""Signal receivers: filled in by the quiz work (anonymous -> account merge)."""
