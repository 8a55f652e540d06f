"""Integrations with other tools (W&B, AWS). Each imports its optional dependency lazily and
raises ``mangodb.errors.MissingExtra`` naming the extra when it is not installed."""
