"""What receivers of the portal's outgoing webhooks need: :mod:`portal.webhooks.verify` (stdlib only)."""
