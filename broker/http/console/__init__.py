"""The web console: static assets served by the ingress at `/console`, using only the public
/v2 API with the caller's token (docs/console.md)."""
